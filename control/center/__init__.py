"""The Control Center (``dhan control``): one window over every service and visualizer, local or remote.

Everything but ``ui/`` is Qt-free and tested without a display.

- ``engine``        :class:`ControlCenter`: supervision, rows, health verdict, actions; the window draws it
- ``boot``          QApplication, a qasync loop under ``asyncio.Runner``, the window, a clean close
- ``cli``           ``dhan control``'s options
- ``catalog``       what it manages: each service and visualizer, how it is launched, the stop order
- ``service_rows``  the Services table: supervisor state + heartbeats + process figures -> one row each
- ``start_all``     Start All: runs the checklist from nothing to all green
- ``checklist``     Start All's checklist (model): steps, their state and detail, the summary line
- ``alerts_feed``   the Alerts tab's reader: alert history, live events, acknowledgements
- ``gaps_feed``     the Gaps tab's reader: today's gap ledger from MySQL
- ``logs_tail``     the Logs tab's reader: live tail of every service's warnings and errors
- ``envfile``       the ``.env`` editor's model: secrets masked, validated with Settings, written atomically
- ``ui/``           the window and its tabs (PyQt6)
"""
