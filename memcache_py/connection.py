"""MemcacheProtocol: one client connection on the event loop (the thin asyncio shell).

bytes -> RequestParser -> HANDLERS -> reply pieces -> one joined transport.write per batch.
Reply pieces that are views of the arena keep their items pinned until joined into the bytes
handed to the transport (the join is the one copy: transports may keep references to what
they are given, so they are only ever given bytes). When writing pauses with views still
queued they are copied out and unpinned, within the daemon's copy budget. Every way a
connection ends releases its pins and any half-received item (`Session.release`), and gives
back what it took from the daemon's budgets (`budget.py`).
"""

from __future__ import annotations

import asyncio
import logging
import socket

from . import watch
from .commands import HANDLERS, handle_get, handle_whole_store
from .errors import ProtocolError
from .flow_control import WRITE_PIECE, FlowControl
from .meta import MetaNoop
from .parser import NEED_DATA, RequestParser
from .replies import INTERNAL_ERROR
from .requests import Get, Store
from .session import Daemon, Session

log = logging.getLogger("memcache_py")

TOO_MANY_CONNECTIONS = b"ERROR Too many open connections\r\n"
OUT_OF_MEMORY_READING = b"SERVER_ERROR out of memory reading request\r\n"
WRITTEN_AT_ONCE = {Get, MetaNoop}   # replies memcached transmits before reading further
BINARY_REQUEST_MAGIC = 0x80     # first byte of a binary-protocol request


class MemcacheProtocol(asyncio.Protocol):
    """asyncio.Protocol for memcached's text and meta protocols."""

    auth = None                     # an auth.AuthGate until a -Y connection authenticates
    lent = False                    # lent to the LRU crawler for a metadump (metadump.py)

    def __init__(self, daemon: Daemon, local_addr: str = ""):
        self.daemon = daemon
        self.local_addr = local_addr
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.flow: FlowControl | None = None
        self.out: list = []         # reply pieces not yet handed to the transport
        self.first_data = True
        self.draining = False       # shutting down: finish replies, then half-close
        self.lone_get = daemon.values.lone_get
        self.stats = daemon.stats           # bound once: read on every request
        self.clock = daemon.clock
        self.line_charge = 0        # bytes taken from the daemon's line budget
        self.copied = 0             # bytes of queued copies taken from its copy budget

    # ---- lifecycle ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        d = self.daemon
        self.transport = transport
        d.stats.total_connections += 1
        if len(d.connections) >= d.settings.max_connections:
            d.stats.rejected_connections += 1
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.flow = FlowControl(transport)
        session = Session(d, RequestParser(), peer=_peer(transport))
        session.fd = sock.fileno() if sock is not None else -1
        session.local = self.local_addr
        session.last_cmd = d.clock.current
        session.close = self.close
        session.protocol = self
        self.session = session
        d.connections.add(session)
        if d.watchers:
            watch.conn_new(session)

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        if session is None:
            return
        self.session = None
        self.out.clear()
        session.release()
        if self.daemon.watchers:
            watch.conn_close(session, exc)
        self.daemon.connections.discard(session)
        if self.line_charge:
            self.daemon.line_budget.give(self.line_charge)
            self.line_charge = 0
        if self.copied:
            self.daemon.copy_budget.give(self.copied)
            self.copied = 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def waiting_for_command(self) -> bool:
        """memcached's idle test: nothing queued to send and no data block being read.
        A watcher (draining) is never idle: memcached's logger thread owns it, not a worker."""
        session = self.session
        return (session is not None and not self.draining and not self.out
                and session.pending is None
                and not session.deferred and not self.lent and self.transport is not None
                and self.transport.get_write_buffer_size() == 0)

    def stop(self) -> None:
        """Graceful shutdown: run no more requests; end the stream once replies are queued."""
        session = self.session
        if session is None:
            return
        session.closing = True
        self.draining = True
        if not self.out:
            self._close_after_replies()

    def lend(self) -> None:
        """A metadump starts: run no request of this connection until end_loan()."""
        self.lent = True

    def end_loan(self) -> None:
        """The metadump ended (its END is written): run the requests that waited."""
        self.lent = False
        asyncio.get_running_loop().call_soon(self.process)

    def _close_after_replies(self) -> None:
        transport = self.transport
        if not self.draining or not transport.can_write_eof():   # type: ignore[union-attr]
            transport.close()                                     # type: ignore[union-attr]
            return
        # Shutting down: a close() with unread input would make the kernel send RST and drop
        # reply bytes still in its send queue. Send FIN after the replies instead, and keep
        # reading (and dropping) until the peer closes or the server's deadline closes us.
        if not transport.is_closing():                            # type: ignore[union-attr]
            transport.write_eof()                                 # type: ignore[union-attr]
        self.flow.resume_reading()                                # type: ignore[union-attr]

    # ---- input -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or self.draining:
            return                  # shutting down: input is read and dropped, never run
        if self.first_data:
            self.first_data = False
            if data[0] == BINARY_REQUEST_MAGIC:     # binary protocol: not spoken here
                self.transport.close()               # type: ignore[union-attr]
                return
        self.stats.bytes_read += len(data)
        if self.auth is not None:           # -Y and not yet authenticated (auth.py)
            data = self.auth.pass_through(self, data)
            if not data:
                return
        if not self.out and not session.closing and not self.flow.write_paused \
                and not self.lent:                                            # type: ignore
            req = session.parser.lone_request(data)
            if req is not None:
                self._serve_lone(session, req)
                return
        try:
            session.parser.receive_data(data)
        except Exception:
            self._bug(session)
            return
        self.process()

    def _serve_lone(self, session: Session, req: bytes | Get | Store) -> None:
        """One whole request alone in a read (parser.lone_request), served without the request
        loop: `get <key>` (the key, bytes) by ValueWriter.lone_get, which answers in one piece
        of bytes, a multi-key get or a whole set by their ordinary handlers."""
        out = self.out
        reply = None
        try:
            if type(req) is bytes and not self.daemon.detail_enabled \
                    and not self.daemon.watchers:
                reply = self.lone_get(out, session.pins, req)
            elif type(req) is Store:
                handle_whole_store(session, req, session.parser.lone_value, out)  # type: ignore
                session.parser.lone_value = None
            else:
                handle_get(session, req if type(req) is Get       # type: ignore[arg-type]
                           else Get([req], False, False, 0), out)
        except Exception:
            out.clear()
            self._bug(session)
            return
        session.last_cmd = self.clock.current
        if reply is not None:                   # the whole reply, nothing queued
            self.stats.bytes_written += len(reply)
            self.transport.write(reply)                  # type: ignore[union-attr]
        elif out:
            self.flush()

    def _bug(self, session: Session) -> None:
        """Our bug, not the client's: log it, answer SERVER_ERROR, close this connection."""
        log.exception("bug while serving %s; closing that connection", session.peer)
        self.out.append(INTERNAL_ERROR)
        session.closing = True
        self.flush()
        self.transport.close()                       # type: ignore[union-attr]

    def process(self) -> None:
        """Execute buffered requests until more input is needed or writing must pause."""
        session, out, flow = self.session, self.out, self.flow
        if session is None or flow is None or self.lent:
            return
        parser = session.parser
        handlers = HANDLERS
        written = 0                             # out[:written] counts as already written
        while True:
            mark = len(out)                     # a failing request's partial reply is dropped
            try:
                req = parser.next_request()     # re-bound on every parser state change
                if req is NEED_DATA:
                    break
                handlers[type(req)](session, req, out)
                if type(req) in WRITTEN_AT_ONCE:
                    written = len(out)
            except ProtocolError as exc:
                if exc.close_after:
                    # memcached drops the replies it has not written yet; it writes get and
                    # mn replies at once, so those (and all before them) still go out
                    del out[written:]
                    session.closing = True
                    break
                if not exc.noreply:
                    out.append(exc.reply)
            except Exception:
                log.exception("bug while serving %s; closing that connection", session.peer)
                del out[mark:]
                out.append(INTERNAL_ERROR)
                session.closing = True
            session.last_cmd = self.clock.current   # idle time counts from here
            if session.closing or flow.write_paused or self.draining or self.lent:
                break                   # draining: `watch`; lent: a metadump runs
            if len(out) > 64 or session.pins.held:
                self.flush()        # a slow reader then pins at most one request's values
                written = 0
        if parser.unterminated != self.line_charge:
            self._charge_line(session, parser.unterminated)
        if out:
            self.flush()
        if session.closing and not out:
            self._close_after_replies()
        elif flow.write_paused or self.lent:
            flow.pause_reading()
        elif flow.read_paused:
            flow.resume_reading()

    def _charge_line(self, session: Session, held: int) -> None:
        """A get line past 2048 bytes still waiting for its newline holds `held` bytes: they
        count against the daemon's line budget, so N such clients cannot hold N x
        GET_LINE_MAX. Past the budget: memcached's read-buffer reply, then close."""
        if session.closing:
            return                          # its charge goes back in connection_lost
        budget, charge = self.daemon.line_budget, self.line_charge
        if held > charge:
            if not budget.take(held - charge):
                self.out.append(OUT_OF_MEMORY_READING)
                session.closing = True
                return
        else:
            budget.give(charge - held)
        self.line_charge = held

    # ---- output ------------------------------------------------------------------------
    def flush(self) -> None:
        """Hand queued pieces to the transport as joined bytes, while it accepts more."""
        out, flow = self.out, self.flow
        if not flow.write_paused and (len(out) <= 4                    # type: ignore[union-attr]
                                      or sum(map(len, out)) <= WRITE_PIECE):
            data = b"".join(out)                     # the common case: one small batch
            out.clear()
            self.daemon.stats.bytes_written += len(data)
            self.transport.write(data)               # type: ignore[union-attr]
        else:
            self._flush_pieces()
        pins = self.session.pins                     # type: ignore[union-attr]
        if pins.held:
            if not out:
                pins.release_all()
            else:                                    # writing paused with views queued
                self._copy_queued_views()

    def _flush_pieces(self) -> None:
        # Large output: at most WRITE_PIECE bytes joined at a time, stopping when the
        # transport pushes back; what is left stays queued (its items pinned).
        out, flow, transport = self.out, self.flow, self.transport
        while out and not flow.write_paused:         # type: ignore[union-attr]
            n, size = 0, 0
            while n < len(out) and size < WRITE_PIECE:
                size += len(out[n])
                n += 1
            data = b"".join(out[:n])
            del out[:n]
            self.daemon.stats.bytes_written += len(data)
            transport.write(data)                    # type: ignore[union-attr]

    def _copy_queued_views(self) -> None:
        """Writing paused with views of the arena still queued: copy them out and unpin their
        items, so slow readers cannot keep the LRU tail from being evicted. The copies come
        from the daemon's copy budget; past it the views stay pinned (memcached, too, holds
        references to what it has not written)."""
        out = self.out
        size = sum(p.nbytes for p in out if type(p) is memoryview)
        if not self.daemon.copy_budget.take(size):
            return
        for i, piece in enumerate(out):
            if type(piece) is memoryview:
                out[i] = QueuedCopy(piece)
        self.copied += size
        self.session.pins.release_all()              # type: ignore[union-attr]

    def _settle_copies(self) -> None:
        """Give the copy budget back for copies handed to the transport since they were made."""
        left = sum(len(p) for p in self.out if type(p) is QueuedCopy)
        self.daemon.copy_budget.give(self.copied - left)
        self.copied = left

    def pause_writing(self) -> None:
        if self.flow is not None:
            self.flow.write_paused = True

    def resume_writing(self) -> None:
        if self.flow is None:
            return
        self.flow.write_paused = False
        self.flush()
        if self.copied:         # copies exist only while paused, so this is where they go
            self._settle_copies()
        if self.session is not None and not self.flow.write_paused:
            self.process()


class QueuedCopy(bytearray):
    """A queued reply piece copied out of the arena, counted in the daemon's copy budget."""

    __slots__ = ()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple):
        host, port = peer[0], peer[1]
        return f"tcp6:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"
    return f"unix:{peer or ''}"
