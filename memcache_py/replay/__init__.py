"""replay: size a cache from a recorded trace, offline, through the daemon's own allocator.

`python -m memcache_py.replay TRACE --memory 64,128 --growth-factor 1.05,1.25` streams the
trace through one cache per configuration (formats.py -> engine.py), in parallel processes
(grid.py), and reports hit ratios, evictions and the slab classes' pages (report.py).
This package is the top of the layering: it imports the daemon; nothing imports it.
"""

from .engine import Config, ConfigError, Result, replay
from .formats import Trace, TraceError

__all__ = ["Config", "ConfigError", "Result", "replay", "Trace", "TraceError"]
