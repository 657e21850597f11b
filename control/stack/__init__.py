"""The headless stack (``dhan up``) and the child-process supervision the Control Center and chaos share.

- ``up``          ``dhan up``: pre-flight, schema, simulator, instruments, feed, writer, greeks; a live screen
- ``supervisor``  child processes: start, stop, restart on failure with backoff, bound to their parent
- ``readiness``   a child counts as started once its own heartbeat (its pid) says running
- ``lock``        one ``dhan up`` per key prefix: a Redis lock with a TTL
- ``status``      what ``dhan up``'s screen shows (heartbeats, lag, table rows); plain and rich renderers
"""
