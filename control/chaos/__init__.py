"""The chaos harness (``dhan chaos``): faults on a private stack replaying a recording, then a per-fault audit.

- ``cli``      ``dhan chaos``: choose faults and pace, private database, signals, print the table
- ``harness``  the run: record or read a recording, start the stack, each fault and its recovery, clean stop
- ``faults``   the faults, one async function each, by name; the CI and the full sets
- ``target``   what the faults hit: the stack a run drives (replay, feed, writer, monitor, greeks), its probes
- ``source``   the recording: recorded first (sim + feed), measured, paced; the replay server's progress
- ``servers``  the private redis-server (AOF) and mariadbd a fault may kill
- ``windows``  per-fault accounting (pure): the run's time cut into one window per fault
- ``report``   the results: per fault and whole run, ``dhan verify``'s check counted per window
"""
