"""End-to-end tests: alert-router as a real process against loopback fakes and real programs."""
