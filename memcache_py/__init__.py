"""memcache_py: a memcached-compatible cache daemon (memcached 1.6.18's text and meta protocols).

Layers, top to bottom: main (the daemon's command line) and embed -> server -> connection ->
commands -> cache -> protocol modules (parser, requests, errors) and the allocator package; cli
is the interactive client. See docs/architecture.md.

The public API, for programs and tests that embed the daemon (docs/testing.md):

- `Server(*flags, port=0, memory_mb=None, **options)`: an async context manager serving on the
  running event loop; `serve_in_thread(...)` the same from a background thread;
- `OptionsError` (a bad option, memcached's message) and `ListenError` (cannot listen);
- `Settings`, the daemon's configuration, and `__version__`.

Names are imported on first use, so `import memcache_py` (and the pytest plugin, which every
pytest run in an environment with this package loads) costs nothing until one is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ListenError", "OptionsError", "Server", "Settings", "ThreadedServer",
           "__version__", "serve_in_thread"]

_LAZY = {"ListenError": "embed", "OptionsError": "embed", "Server": "embed",
         "ThreadedServer": "embed", "serve_in_thread": "embed", "Settings": "settings"}

if TYPE_CHECKING:
    from .embed import ListenError, OptionsError, Server, ThreadedServer, serve_in_thread
    from .settings import Settings


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memcache_py' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
