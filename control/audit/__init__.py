"""A recorded journal served again and checked against MySQL.

- ``replay``        the journal served through the simulator's WebSocket; ``dhan feed`` connects unchanged
- ``replay_cli``    ``dhan replay``'s entry
- ``journal_scan``  the journal decoded back into the trades and last quotes the feed published
- ``verify``        those against MySQL (read-only): every trade once, quotes and day summaries right
- ``repair``        ``--repair``: missing ticks, summaries and stale quotes refilled the writer's way
- ``verify_cli``    ``dhan verify``'s entry: the report, ``--json``, ``--repair``
"""
