"""The web console: a static front-end (plain ES modules, Apache ECharts from npm) over the public REST API.

``mount.py`` serves it at ``/`` of ``galerna serve``; ``view.py`` is ``galerna view OUT_DIR``, the same timeline
read-only on a simulation output directory.
"""
