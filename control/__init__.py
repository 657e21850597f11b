"""Operating the system: what starts, watches, schedules, audits and attacks the services.

- ``center/``     the PyQt6 Control Center (``dhan control``): a Qt-free engine, the window in ``ui/``
- ``stack/``      the headless stack (``dhan up``) and the child-process supervision everything here shares
- ``monitor/``    alert rules over heartbeats and metrics (``dhan monitor``), and the snapshot they read
- ``scheduler/``  the trading calendar starting and stopping services around market hours (``dhan scheduler``)
- ``audit/``      a journal served again (``dhan replay``) and checked against MySQL (``dhan verify``)
- ``chaos/``      fault injection on a private stack replaying a recording (``dhan chaos``)

control imports viz, writer, feed and shared; no product package imports control (``shared.cli`` reaches
its commands by import path).
"""
