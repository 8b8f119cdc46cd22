"""serve(): the daemon on an event loop; run(): the blocking entry point the CLI calls.

One asyncio loop (uvloop when installed, unless `-o loop=asyncio`), one listening socket per
`-l` address, a once-a-second timer for memcached's clock and `-o idle_timeout`, and a
graceful stop on SIGTERM/SIGINT or `shutdown`: stop accepting, let queued replies drain for
a moment, close the rest. A graceful stop (SIGUSR1, `shutdown graceful`) also saves the arena
for a warm restart when there is a memory file (`-e`, restart.py); SIGTERM/SIGINT save nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field

from .background import TaskRunner, start_crawler_tasks, start_slab_tasks
from .cache import Cache
from .clock import Clock
from .connection import MemcacheProtocol
from .counters import ServerStats
from .session import Daemon
from .settings import SettingsError
from . import auth, restart, tls

log = logging.getLogger("memcache_py")

DRAIN_SECONDS = 0.5          # how long a stopping daemon lets queued replies go out


def build_daemon(settings, clock: Clock | None = None) -> Daemon:
    """The cache and its counters for these settings (no sockets); with `-e`, warm from the
    memory file when its metadata allows (restart.py)."""
    clock = clock or Clock()
    store, _ = restart.open_store(settings, clock)
    cache = Cache(store, clock, ServerStats(), flush_enabled=settings.flush_enabled)
    return Daemon(settings, cache)


@dataclass
class RunningServer:
    """A started daemon: its addresses, and how to stop it."""

    daemon: Daemon
    servers: list[asyncio.AbstractServer]
    addresses: list[tuple[str, int]]
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    graceful: bool = False          # SIGUSR1 / shutdown graceful: save for a warm restart
    _tasks: list[asyncio.Task] = field(default_factory=list)
    background: TaskRunner = field(default_factory=TaskRunner)   # the page mover, automove

    @property
    def port(self) -> int:
        return self.addresses[0][1] if self.addresses else 0

    def request_stop(self, graceful: bool = False) -> None:
        self.graceful = self.graceful or graceful
        self.stopped.set()

    async def wait_stopped(self) -> None:
        await self.stopped.wait()
        await self.close()

    async def close(self) -> None:
        """Stop accepting, run no more requests, let queued replies drain, then close."""
        for t in self._tasks:
            t.cancel()
        await self.background.stop()
        for s in self.servers:
            s.close()
        self.daemon.accepting = False
        if self.daemon.tls is not None:
            self.daemon.tls.abort_handshakes()
        for session in list(self.daemon.connections):
            session.protocol.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while self.daemon.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for session in list(self.daemon.connections):
            session.close()             # a reader that will not drain is cut off
        await asyncio.sleep(0)
        if self.graceful and self.daemon.settings.memory_file is not None:
            self.save()

    def save(self) -> None:
        """Give back every connection's pins (a half-received item is freed, never saved;
        release() may run again from connection_lost harmlessly) and write FILE.meta."""
        for session in list(self.daemon.connections):
            session.release()
        self.daemon.clock.tick()
        try:
            restart.save(self.daemon.settings, self.daemon.clock, self.daemon.cache.store)
        except OSError as exc:              # a full or read-only disk: say so, start cold later
            restart.log(f"failed to save metadata: {exc}")


async def serve(settings, *, sock: socket.socket | None = None,
                clock: Clock | None = None) -> RunningServer:
    """Start listening and return at once; `RunningServer.wait_stopped()` runs until stopped."""
    loop = asyncio.get_running_loop()
    daemon = build_daemon(settings, clock)
    # memcached's order: the TLS context, then the auth file, then the listeners
    daemon.tls = tls.TlsState(settings, daemon.clock) if settings.ssl_enabled else None
    daemon.auth = auth.load(settings)
    servers: list[asyncio.AbstractServer] = []
    addresses: list[tuple[str, int]] = []
    if sock is not None:
        socks = [(sock, False)]
    elif settings.unix_socket:
        socks = [(_unix_socket(settings), True)]
    else:
        socks = _tcp_sockets(settings)
    for s, notls in socks:
        local = _addr_name(s)
        factory = _protocol_factory(daemon, local)
        if daemon.tls is not None and not notls and s.family != socket.AF_UNIX:
            factory = daemon.tls.acceptor_factory(daemon, factory)
        server = await loop.create_server(factory, sock=s, backlog=settings.tcp_backlog)
        servers.append(server)
        daemon.listeners.append((s.fileno(), local))
        name = s.getsockname()
        if isinstance(name, tuple):
            addresses.append((name[0], name[1]))
    running = RunningServer(daemon, servers, addresses)
    daemon.on_shutdown = lambda graceful: loop.call_soon(
        _graceful_stop if graceful else RunningServer.request_stop, running)
    running._tasks.append(loop.create_task(_every_second(daemon)))
    start_slab_tasks(running.background, daemon)
    start_crawler_tasks(running.background, daemon)
    _write_port_file(addresses)
    for host, port in addresses:
        log.info("listening on %s:%d", host, port)
    return running


def _protocol_factory(daemon: Daemon, local: str):
    """The daemon's protocol for one listener; with -Y each connection starts at the gate."""
    table = daemon.auth

    def make() -> MemcacheProtocol:
        protocol = MemcacheProtocol(daemon, local)
        if table is not None:
            protocol.auth = auth.AuthGate(table, daemon.stats)
        return protocol
    return make


async def _every_second(daemon: Daemon) -> None:
    """memcached's clock_handler: tick the clock, kick idle connections."""
    idle = daemon.settings.idle_timeout
    while True:
        await asyncio.sleep(1.0)
        now = daemon.clock.tick()
        if idle > 0:
            for session in list(daemon.connections):
                # memcached kicks only connections waiting for a command (conn_new_cmd)
                if now - session.last_cmd > idle and session.protocol.waiting_for_command():
                    daemon.stats.idle_kicks += 1
                    session.close()


def _tcp_sockets(settings) -> list[tuple[socket.socket, bool]]:
    """One bound socket per -l address, each with whether it is a `notls:` one."""
    port = 0 if settings.port == -1 else settings.port
    if port == 0 and settings.port == 0:
        return []
    socks = []
    for item in settings.listen:
        notls, item = tls.strip_notls(item)
        if notls and not settings.ssl_enabled:
            print("'notls' option is valid only when SSL is enabled", file=sys.stderr)
            raise OSError(0, "Success")         # memcached then fails to listen, exit 71
        host, p = _split_host_port(item, port)
        infos = socket.getaddrinfo(None if host in ("*", "") else host, p,
                                   type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, addr = infos[0]
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(addr)
        s.listen(settings.tcp_backlog)
        s.setblocking(False)
        socks.append((s, notls))
    return socks


def _split_host_port(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if item.count(":") == 1:
        host, port = item.split(":")
        return host, int(port)
    return item, default_port


def _unix_socket(settings) -> socket.socket:
    path = settings.unix_socket
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, settings.unix_mask)
    s.listen(settings.tcp_backlog)
    s.setblocking(False)
    return s


def _addr_name(s: socket.socket) -> str:
    name = s.getsockname()
    if s.family == socket.AF_UNIX:
        return f"unix:{name}"
    if s.family == socket.AF_INET6:
        return f"tcp6:[{name[0]}]:{name[1]}"
    return f"tcp:{name[0]}:{name[1]}"


def _write_port_file(addresses: list[tuple[str, int]]) -> None:
    """memcached's MEMCACHED_PORT_FILENAME: `TCP INET: <port>` lines, written atomically."""
    path = os.environ.get("MEMCACHED_PORT_FILENAME")
    if not path:
        return
    with open(path + ".lck", "w") as f:
        for host, port in addresses:
            f.write(f"TCP INET{'6' if ':' in host else ''}: {port}\n")
    os.rename(path + ".lck", path)


def new_event_loop(settings) -> asyncio.AbstractEventLoop:
    """uvloop's loop unless `-o loop=asyncio` (or uvloop is missing)."""
    if settings.loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if settings.loop == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def reload_on_sighup(daemon: Daemon) -> None:
    """SIGHUP: read the -Y file again (a bad file keeps the old entries, as memcached)."""
    if daemon.auth is not None:
        daemon.auth.reload()
    else:
        log.info("SIGHUP: nothing to reload")


def _graceful_stop(running: RunningServer) -> None:
    print("Gracefully stopping", file=sys.stderr, flush=True)     # memcached's line
    running.request_stop(graceful=True)


class _SignalRelay:
    """Signals that arrive while serve() is still starting are kept and acted on once it returns.

    The listeners accept (and may answer) inside serve(), so the handlers must be in place before
    it: otherwise a SIGTERM in that window kills the process with the default action (-15).
    """

    def __init__(self) -> None:
        self.running: RunningServer | None = None
        self.pending: list[bool] = []          # graceful? for each stop signal before start

    def stop(self, graceful: bool = False) -> None:
        if self.running is None:
            self.pending.append(graceful)
        elif graceful:
            _graceful_stop(self.running)
        else:
            self.running.request_stop()

    def hup(self) -> None:
        if self.running is not None:
            reload_on_sighup(self.running.daemon)

    def started(self, running: RunningServer) -> None:
        self.running = running
        for graceful in self.pending:
            self.stop(graceful)


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, relay: _SignalRelay) -> None:
    # memcached: SIGTERM/SIGINT exit, SIGUSR1 is a graceful stop, SIGHUP reloads the -Y file
    # (certificates are reloaded by refresh_certs only), SIGPIPE is ignored.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stop)
    loop.add_signal_handler(signal.SIGUSR1, relay.stop, True)
    loop.add_signal_handler(signal.SIGHUP, relay.hup)
    try:
        loop.add_signal_handler(signal.SIGPIPE, lambda: None)
    except (ValueError, RuntimeError, AttributeError):
        pass


def run(settings) -> int:
    """Serve until SIGTERM/SIGINT or `shutdown`; the exit status."""
    loop = new_event_loop(settings)
    asyncio.set_event_loop(loop)
    relay = _SignalRelay()
    _install_signal_handlers(loop, relay)
    try:
        running = loop.run_until_complete(serve(settings))
    except SettingsError as err:        # a bad TLS file or auth file: memcached's message
        print(err.message, file=sys.stderr)
        loop.close()
        return err.status
    except OSError as exc:
        log.error("failed to listen: %s", exc)
        reason = exc.strerror or exc           # memcached prints strerror(errno)
        print(f"failed to listen on one of interface(s) {','.join(settings.listen)}: {reason}",
              file=sys.stderr)
        return 71       # EX_OSERR, as memcached
    relay.started(running)
    try:
        loop.run_until_complete(running.wait_stopped())
    finally:
        loop.close()
    return 0
