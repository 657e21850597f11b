"""Development kit shared by the tests, scripts/ and bench/: isolated settings, waiting on a condition, a
service run in a task, the golden session and the Control Center scenario.

Not part of the installed package (pyproject's package list leaves it out): it exists so that shipped tools
(scripts/, bench/) never import test code, and the tests use the same helpers.
"""
