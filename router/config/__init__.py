"""Configuration: YAML with positions, field readers, the typed config, loading and checking."""
