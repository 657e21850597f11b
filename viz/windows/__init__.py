"""One window per visualizer: thin Qt shells over ``viz.models`` and ``viz.data``."""
