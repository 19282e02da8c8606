"""The HTTP edge: route table with per-route auth policy, JSON errors, one module per API area."""
