"""Qt widgets and pyqtgraph items shared by the windows."""
