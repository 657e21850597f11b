"""Common package of dhan-trading: settings, logging, Redis key names, events, clock, errors, service base.

Nothing here imports Qt or a service package; ``shared.cli`` dispatches to services lazily by import path.
"""

__version__ = "0.1.0"
