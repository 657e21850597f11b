"""Live PyQt6 visualizers (``dhan viz <name>``).

Layout: ``models/`` and ``data/`` are Qt-free (numpy models, MySQL history, Redis live, the history->live
seam); ``widgets/``, ``windows/`` and ``boot.py`` hold the Qt code. Each window is its own process.
"""
