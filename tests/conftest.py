"""Shared fixtures: a memcache_py daemon in-process on an ephemeral port, and the real memcached.

`--server=memcached` (or MEMCACHE_TEST_SERVER=memcached) points the integration suite at a
real memcached instead, so the same tests check that our expectations are memcached's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

MEMCACHED = os.environ.get("MEMCACHED_BIN") or shutil.which("memcached")


def pytest_addoption(parser):
    parser.addoption("--server", default=os.environ.get("MEMCACHE_TEST_SERVER", "ours"),
                     choices=["ours", "memcached"], help="which server the integration tests hit")


class DaemonThread:
    """memcache_py serving on 127.0.0.1:<ephemeral> from a background thread's event loop."""

    def __init__(self, clock=None, **overrides):
        from memcache_py.settings import Settings
        self.settings = dataclasses.replace(Settings(), port=-1, listen=("127.0.0.1",),
                                            **overrides)
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from memcache_py.server import serve
        asyncio.set_event_loop(self.loop)
        try:
            self.running = self.loop.run_until_complete(serve(self.settings, clock=self.clock))
        except BaseException as exc:        # surfaced by start()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_until_complete(self.running.wait_stopped())
        self.loop.close()

    def start(self) -> DaemonThread:
        self.thread.start()
        self.ready.wait(10)
        if self.error:
            raise self.error
        self.host, self.port = self.running.addresses[0]
        self.daemon = self.running.daemon
        return self

    def call(self, fn, *args):
        """Run fn on the daemon's loop and return its result (to inspect state safely)."""
        fut = asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop)
        return fut.result(5)

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.running.request_stop)
            self.thread.join(5)


async def _call(fn, *args):
    return fn(*args)


class MemcachedProcess:
    """A real memcached on an ephemeral port (`-p -1` is avoided: we pick a free port)."""

    def __init__(self, *args: str):
        self.args = args

    def start(self) -> MemcachedProcess:
        self.host, self.port = "127.0.0.1", free_port()
        self.proc = subprocess.Popen([MEMCACHED, "-u", "root", "-U", "0", "-t", "1", "-l",
                                      self.host, "-p", str(self.port), *self.args])
        wait_port(self.host, self.port)
        return self

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float = 3.0, every: float = 0.02):
    """Poll `condition()` until it is true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def wait_port(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {host}:{port}")


@pytest.fixture
def make_daemon():
    """Factory: make_daemon(memory_limit=..., evictions=False, clock=FakeClock()) -> started."""
    started = []

    def make(**kw):
        d = DaemonThread(**kw).start()
        started.append(d)
        return d
    yield make
    for d in started:
        d.stop()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


@pytest.fixture
def server(request, make_daemon):
    """(host, port) of the server under test: ours, or memcached with --server=memcached."""
    if request.config.getoption("--server") == "memcached":
        if not MEMCACHED:
            pytest.skip("memcached binary not installed")
        mc = MemcachedProcess("-o", "no_modern").start()
        request.addfinalizer(mc.stop)
        return mc.host, mc.port
    d = make_daemon()
    return d.host, d.port


@pytest.fixture
def memcached():
    if not MEMCACHED:
        pytest.skip("memcached binary not installed")
    mc = MemcachedProcess("-o", "no_modern").start()
    yield mc
    mc.stop()


# ---- a connection over a fake transport (unit tests: no sockets, no event loop) ------------
class FakeTransport:
    """Takes writes until `room` bytes are buffered, then pauses the protocol (as uvloop does
    past its high-water mark); `drain()` empties it and resumes."""

    def __init__(self, room: int = 1 << 40):
        self.room = room
        self.buffered = 0
        self.written = b""
        self.closed = False
        self.reading = True
        self.protocol = None            # the MemcacheProtocol it feeds back to

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 4242) if name == "peername" else default

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def write(self, data: bytes) -> None:
        assert type(data) is bytes, "transports are only ever given bytes"
        self.written += data
        self.buffered += len(data)
        if self.buffered > self.room:
            self.protocol.pause_writing()

    def drain(self) -> None:
        self.buffered = 0
        self.protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def can_write_eof(self):
        return False


def connect_fake(daemon, transport=None):
    """A MemcacheProtocol of `daemon` connected to a FakeTransport: (protocol, transport)."""
    from memcache_py.connection import MemcacheProtocol
    transport = transport or FakeTransport()
    p = MemcacheProtocol(daemon)
    transport.protocol = p
    p.connection_made(transport)
    return p, transport


def offline_daemon(clock=None, **overrides):
    """A daemon (no sockets) with an 8 MB arena and these Settings fields changed."""
    from memcache_py.server import build_daemon
    from memcache_py.settings import Settings
    overrides.setdefault("memory_limit", 8 * 1024 * 1024)
    settings = dataclasses.replace(Settings(), **overrides)
    return build_daemon(settings, clock)
