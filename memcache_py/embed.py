"""The daemon inside someone else's program: `async with Server(...)` and `serve_in_thread(...)`.

Both take the command line's options, read from the one table in settings.py: memcached's flags
as strings (`Server("-m 4 -M")`) and keywords named after the flags' long names or `-o` names
(`Server(conn_limit=8, max_item_size="2m", idle_timeout=5)`). A bad option raises OptionsError
with memcached's message, a port that cannot be bound raises ListenError: never a traceback from
deep inside. On exit the listeners close, connections are cut, their pins are released and the
port is free again. Built on server.serve(), the same code path as the `memcache-py` command.
"""

from __future__ import annotations

import asyncio
import difflib
import shlex
import socket
import threading
from typing import Any

from .server import RunningServer, new_event_loop, serve
from .settings import OPTIONS, InfoRequest, Settings, SettingsError, parse_settings

__all__ = ["ListenError", "OptionsError", "Server", "ThreadedServer", "serve_in_thread"]

STOP_SECONDS = 10.0          # how long serve_in_thread's exit waits for the thread to finish
CLOSE_SECONDS = 2.0          # how long a stopping server waits for its connections to go


class OptionsError(ValueError):
    """An option the command line would reject; the message is memcached's (or ours)."""


class ListenError(OSError):
    """The server could not listen (the port is in use, the address is not local, ...)."""


# ---- options: keywords -> memcached's argv, through the table ------------------------------

# Flags that make no sense inside another program.
_NOT_EMBEDDABLE = {"help", "license", "version", "daemon", "extended"}


def _keyword_table() -> dict[str, tuple[str, Any]]:
    """keyword -> ("flag", row) or ("subopt", row), from settings.OPTIONS."""
    table: dict[str, tuple[str, Any]] = {}
    for row in OPTIONS:
        if row.parse is None:
            continue                     # -o names accepted and ignored
        longs = [f for f in row.flags if f.startswith("--")]
        if longs:
            name = longs[0][2:].replace("-", "_")
            if name not in _NOT_EMBEDDABLE:
                table[name] = ("flag", row)
        elif row.subopt:
            table.setdefault(row.subopt, ("subopt", row))
    return table


KEYWORDS = _keyword_table()


def _keyword_argv(name: str, value: Any) -> list[str]:
    """One keyword as memcached's flags: `conn_limit=8` -> ["-c", "8"]."""
    if name not in KEYWORDS:
        close = difflib.get_close_matches(name, KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionsError(f"unknown option {name!r}{hint}")
    kind, row = KEYWORDS[name]
    if kind == "subopt":
        if value is True:
            return ["-o", row.subopt]
        if value is False:
            return ["-o", f"no_{row.subopt}"] if f"no_{row.subopt}" in KEYWORDS else []
        return ["-o", f"{row.subopt}={value}"]
    flag = row.flags[0]
    if not row.takes_arg:
        if isinstance(value, bool):
            return [flag] if value else []
        if isinstance(value, int) and value >= 0:        # verbose=2 -> -v -v
            return [flag] * value
        raise OptionsError(f"option {name!r} takes True or False, not {value!r}")
    if isinstance(value, bool) or value is None:
        raise OptionsError(f"option {name!r} needs a value, not {value!r}")
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return [flag, str(value)]


def build_settings(*args: str, host: str | None = None, port: int = 0,
                   memory_mb: int | None = None, **options: Any) -> Settings:
    """Settings for an embedded server, checked exactly as the command line checks them.

    `args` are memcached's flags (each string is split like a shell would); `port=0` picks a
    free port; the keywords are flags' long names or `-o` names. Later flags win, as in getopt,
    so `args` override the keywords. Raises OptionsError.
    """
    argv = ["-p", "-1" if port == 0 else str(port)]
    if host is not None:
        argv += ["-l", host]
    if memory_mb is not None:
        argv += ["-m", str(memory_mb)]
    for name, value in options.items():
        argv += _keyword_argv(name, value)
    for arg in args:
        argv += shlex.split(arg)
    warnings: list[str] = []
    try:
        settings = parse_settings(argv, warn=warnings.append)
    except SettingsError as err:
        raise OptionsError(err.message) from None
    except InfoRequest:
        raise OptionsError("-h, -V and -i print and exit; they do not start a server") from None
    if settings.daemonize:
        raise OptionsError("-d (daemonize) cannot be used in an embedded server")
    return settings


async def stats_over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     sub: str) -> dict[str, str]:
    writer.write(f"stats {sub}".strip().encode() + b"\r\n")
    out: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode("utf-8", "replace").rstrip("\r\n")
        if line == "END" or not line:
            return out
        if not line.startswith("STAT "):
            raise RuntimeError(f"stats {sub}: {line}")
        _, name, value = line.split(" ", 2)
        out[name] = value


def _stats_blocking(address: tuple[str, int], sub: str) -> dict[str, str]:
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(f"stats {sub}".strip().encode() + b"\r\n")
        buf = b""
        while not (buf.endswith(b"END\r\n") or buf.endswith(b"ERROR\r\n")):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    out: dict[str, str] = {}
    for line in buf.decode("utf-8", "replace").split("\r\n"):
        if line.startswith("STAT "):
            _, name, value = line.split(" ", 2)
            out[name] = value
        elif line and line != "END":
            raise RuntimeError(f"stats {sub}: {line}")
    return out


def _flush_blocking(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(b"flush_all\r\n")
        reply = s.recv(64)
    if reply != b"OK\r\n":
        raise RuntimeError(f"flush_all: {reply!r}")


# ---- on the running loop -------------------------------------------------------------------

class Server:
    """A memcache_py daemon on the running event loop.

    ::

        async with memcache_py.Server(port=0, memory_mb=16) as server:
            ... connect to server.host, server.port ...

    Raises OptionsError (at construction) for a bad option and ListenError (on entry) when it
    cannot listen.
    """

    def __init__(self, *args: str, host: str | None = None, port: int = 0,
                 memory_mb: int | None = None, **options: Any):
        self.settings: Settings = build_settings(*args, host=host, port=port,
                                                 memory_mb=memory_mb, **options)
        self._running: RunningServer | None = None

    @property
    def running(self) -> RunningServer:
        if self._running is None:
            raise RuntimeError("the server is not started")
        return self._running

    @property
    def host(self) -> str:
        """The first TCP address's host (127.0.0.1 unless -l says otherwise), or the -s path."""
        running = self.running
        return running.addresses[0][0] if running.addresses else str(self.settings.unix_socket)

    @property
    def port(self) -> int:
        """The first TCP address's port: the one picked when `port=0`."""
        return self.running.port

    @property
    def address(self) -> str:
        """`host:port`, as memcached clients and `memcache-cli` take it (or the -s path)."""
        host = self.host
        if not self.running.addresses:
            return host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    async def start(self) -> Server:
        if self._running is not None:
            raise RuntimeError("the server is already started")
        try:
            self._running = await serve(self.settings)
        except OSError as exc:
            raise ListenError(exc.errno, f"cannot listen on "
                              f"{self.settings.unix_socket or ','.join(self.settings.listen)}"
                              f" port {self.settings.port}: {exc.strerror or exc}") from None
        return self

    async def stop(self) -> None:
        """Stop accepting, let queued replies drain briefly, close every connection."""
        running, self._running = self._running, None
        if running is None:
            return
        running.request_stop()
        await running.close()
        # close() lets a transport flush first, which never ends for a peer that does not read
        for session in list(running.daemon.connections):
            transport = getattr(session.protocol, "transport", None)
            if transport is not None:
                transport.abort()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_SECONDS
        while running.daemon.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)       # connection_lost releases each one's pins
        for s in running.servers:
            await s.wait_closed()

    async def serve_forever(self) -> None:
        """Run until a `shutdown` command (with -A) or stop() from elsewhere."""
        await self.running.stopped.wait()
        await self.stop()

    async def stats(self, sub: str = "") -> dict[str, str]:
        """`stats [sub]` as a dict of strings, over a connection of its own."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            return await stats_over(reader, writer, sub)
        finally:
            writer.close()

    async def flush(self) -> None:
        """`flush_all`: every item is gone."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(b"flush_all\r\n")
            reply = await reader.readline()
        finally:
            writer.close()
        if reply != b"OK\r\n":
            raise RuntimeError(f"flush_all: {reply!r}")

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# ---- in a thread of its own ----------------------------------------------------------------

class ThreadedServer:
    """A daemon serving from a background thread's event loop (see serve_in_thread)."""

    def __init__(self, server: Server):
        self.server = server
        self.settings = server.settings
        self._loop = new_event_loop(server.settings)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="memcache_py", daemon=True)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:     # re-raised by start() in the caller's thread
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_until_complete(self.server.serve_forever())
        finally:
            loop.close()

    def start(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        self.host, self.port, self.address = (self.server.host, self.server.port,
                                              self.server.address)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; the port is free when this returns."""
        if self._thread.is_alive():
            running = self.server._running
            if running is not None:
                self._loop.call_soon_threadsafe(running.request_stop)
            self._thread.join(STOP_SECONDS)

    def stats(self, sub: str = "") -> dict[str, str]:
        """`stats [sub]` as a dict of strings."""
        return _stats_blocking((self.host, self.port), sub)

    def flush(self) -> None:
        """`flush_all`: every item is gone."""
        _flush_blocking((self.host, self.port))

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_in_thread(*args: str, host: str | None = None, port: int = 0,
                    memory_mb: int | None = None, **options: Any) -> ThreadedServer:
    """Start a daemon in a background thread and return once it listens.

    ::

        with memcache_py.serve_in_thread(memory_mb=16) as server:
            Client((server.host, server.port)).set("k", b"v")

    Same options as Server; raises OptionsError or ListenError in the calling thread.
    """
    server = Server(*args, host=host, port=port, memory_mb=memory_mb, **options)
    return ThreadedServer(server).start()
