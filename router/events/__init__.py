"""The event log: every human-visible change, in commit order, and its live subscribers.

`model` holds the Event (what a store call appends next to the change it describes) and
its wire envelope; `hub` fans committed events out to bounded in-memory subscriptions;
`follow` is the exact catch-up (replay from the store, then live) every stream uses.
"""
