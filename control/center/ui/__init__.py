"""The Control Center's window (PyQt6): it only draws :class:`~control.center.engine.ControlCenter`.

- ``main_window``      the window: seven tabs and a health badge
- ``common``           colours, a list-backed table model, small formatters shared by the tabs
- ``services_tab``     every service and visualizer with its state and actions; the Start All checklist
- ``monitor_tab``      the health verdict, key rates, streams and the conditions that hold now
- ``instruments_tab``  every subscribed instrument with the age of its last quote
- ``logs_tab``         live warnings and errors, filtered by service, level and text
- ``alerts_tab``       what the monitor raised; acknowledge
- ``gaps_tab``         today's gaps from the ledger, open ones red
- ``config_tab``       effective settings (secrets masked) and the ``.env`` editor
"""
