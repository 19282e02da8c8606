"""Notify: the stage chain that turns a flushed batch into outbox rows."""
