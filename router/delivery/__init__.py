"""Delivery: the outbox workers, retry policy and pacing."""
