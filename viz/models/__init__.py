"""Qt-free models of the visualizers: numpy state and pure update functions, one module per visual."""
