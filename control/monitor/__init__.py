"""The monitor (``dhan monitor``): heartbeats and metrics -> alert rules -> ``dhan:alerts``.

- ``service``      every second: a snapshot, the rules, new firing/resolved events published
- ``cli``          ``dhan monitor``'s entry
- ``snapshot``     one look at the running system: heartbeats, Redis memory, streams and groups, MySQL
- ``quotes_seen``  last quote time per instrument, from the live quotes channel
- ``rules``        alert rules (pure): a snapshot in, the conditions that hold now out; the health verdict
- ``alerts``       de-duplicated alerts with recovery notices (pure)

The Control Center reads the same snapshot and rules for its health verdict.
"""
