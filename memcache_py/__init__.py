"""memcache_py: a memcached-compatible cache daemon (memcached 1.6.18's text and meta protocols).

Layers, top to bottom: cli -> server -> connection -> commands -> cache -> protocol modules
(parser, requests, errors) and the allocator package. See docs/architecture.md.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
