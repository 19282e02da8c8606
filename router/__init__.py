"""alert-router: routes, groups and durably delivers alerts."""
