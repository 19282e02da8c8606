"""Ingest: input formats to alerts, the merge rule, the durable ingestor and the alert feed."""
