"""The scheduler (``dhan scheduler``): the trading calendar starts and stops services around market hours.

- ``service``  starts the scheduled services before the open and stops them after the close
- ``plan``     when they run (pure): the trading day's window from the calendar and two settings
- ``cli``      ``dhan scheduler``'s entry (``--show`` prints the plan and each exchange now)

The services run as its children (mode ``supervise``) or elsewhere, told over ``dhan:control`` (``control``).
"""
