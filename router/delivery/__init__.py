"""Delivery: the outbox worker (claim, send, record), its scheduler, policy and pacing."""
