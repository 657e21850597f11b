"""``dhan sim``: a Dhan-protocol exchange simulator (v2 binary feed over WebSocket, scrip masters over HTTP).

Modules: ``reference`` (packaged real data), ``contracts`` (generated derivatives), ``scrip_master`` (CSV
layouts), ``model`` (price processes, smile), ``book`` (one instrument's state and packets), ``market``
(all instruments, subscriptions, the update generator), ``connection`` (one client, framed writes),
``faults``, ``guard`` (who may inject faults; foreign web origins refused), ``server`` (:class:`SimServer`)
and ``cli`` (the service).
"""

from feed.sim.connection import Recorder
from feed.sim.server import SimServer, session_clock

__all__ = ["Recorder", "SimServer", "session_clock"]
