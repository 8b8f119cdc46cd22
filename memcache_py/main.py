"""The `memcache-py` command (the daemon): memcached's flags -> Settings -> server.run.

Thin on purpose (mini-redis `bin/server.rs`): the options, their checks and their messages live
in settings.py. Here: report a bad option the way memcached does, set up logging, print the slab
class table with -vv, daemonize (-d), write the pid file (-P), and hand over to the server.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from allocator.slabclass import SlabClassTable
from memcache_py.settings import InfoRequest, Settings, SettingsError, parse_settings


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to whatever sys.stderr is when a record is emitted."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(verbosity: int) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv, on stderr, for our packages' loggers."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    for name in ("memcache_py", "allocator"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(handler)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


def slab_class_lines(settings: Settings) -> list[str]:
    """The class table memcached's slabs_init prints with -vv."""
    table = SlabClassTable(chunk_size=settings.chunk_size, factor=settings.growth_factor,
                           slab_chunk_max=settings.slab_chunk_max)
    return [f"slab class {c.id:3d}: chunk size {c.chunk_size:9d} perslab {c.chunks_per_page:7d}"
            for c in table]


def daemonize(keep_stdio: bool = False) -> None:
    """Detach: fork, setsid, fork again, chdir /, and point std fds at /dev/null.

    Like memcached, stderr (and stdout) stay open when verbose, so -v output is not lost.
    """
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    sys.path[:] = [os.path.abspath(p) for p in sys.path]   # '' (the cwd) must survive chdir
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0,) if keep_stdio else (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def write_pidfile(path: str) -> None:
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


def _remove_pidfile(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def main(argv: list[str] | None = None, *,
         runner: Callable[[Settings], int | None] | None = None) -> int:
    """Run the daemon with memcached's command line; returns the exit status."""
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else list(argv))
    except InfoRequest as info:
        print(info.text)
        return 0
    except SettingsError as err:
        print(err.message, file=sys.stderr)
        return err.status
    configure_logging(settings.verbosity)
    if settings.verbosity > 1:
        print("\n".join(slab_class_lines(settings)), file=sys.stderr)
    pidfile = os.path.abspath(settings.pidfile) if settings.pidfile else None
    if settings.daemonize:
        sys.stdout.flush()
        sys.stderr.flush()
        daemonize(keep_stdio=settings.verbosity > 0)
    if pidfile:
        write_pidfile(pidfile)
    try:
        if runner is None:
            from memcache_py.server import run as runner
        return runner(settings) or 0
    finally:
        if pidfile:
            _remove_pidfile(pidfile)
