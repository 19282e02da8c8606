"""The HTTP edge: handlers, the auth policy and Alertmanager API v2."""
