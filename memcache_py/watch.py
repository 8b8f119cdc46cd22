"""watch: memcached 1.6's log stream, with its line formats and bounded per-watcher buffers.

`watch [fetchers] [mutations] [evictions] [sysevents] [connevents] ...` turns a connection
into a watcher: it gets `OK\r\n`, then one line per logged event, and no command of it is
parsed again (memcached's conn_watch). Lines are memcached 1.6.18's (logger.c), e.g.
    ts=1700000000.123456 gid=7 type=item_get key=foo status=found clsid=1 cfd=25 size=3
Theory of operation:
  - events are formatted at once and appended to each matching watcher's pending bytes; a
    call_soon hands the pending bytes to the transports once per loop turn (memcached's
    logger thread flushing its watchers);
  - a watcher whose pending bytes plus its transport's unsent bytes would pass
    watcher_logbuf_size skips the line and counts it; the next line it does take is preceded
    by `skipped=N\n` (memcached's bipbuf full -> skipped). Memory stays bounded however slowly
    it reads;
  - lines logged in one loop turn past worker_logbuf_size are dropped (log_worker_dropped);
  - the request path calls in here only behind `if daemon.watchers:` (an empty list when
    nobody watches), so watching costs nothing when no one watches.
memcached logs an item_get for every lookup a command makes, so a store is preceded by the
item_get of its own lookup; we log the same for the classic key commands and mg/ms/md/ma.
Not logged: stores refused as too large, rawcmds, and sysevents (no mover or crawler yet).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any
from urllib.parse import quote_from_bytes

from allocator import NIL
from allocator.item import ITEM_FETCHED, SIZES, TIME_MASK, TIMES

from .outcome import Outcome
from .errors import ClientError, RawError
from .watch_request import (LOG_CONNEVENTS, LOG_EVICTIONS, LOG_FETCHERS, LOG_MUTATIONS,
                            Watch)

WATCHER_LIMIT = 20          # logger.c
LINE_SLACK = 128            # logger.c asks the bipbuf for a line's length + 128
STORE_STATUS = {Outcome.STORED: b"stored", Outcome.NOT_STORED: b"not_stored",
                Outcome.EXISTS: b"exists", Outcome.NOT_FOUND: b"not_found"}
URI_SAFE = b"-._~"          # memcached's uriencode leaves alnum and these alone


class Watcher:
    """One watching connection: its event flags and its bounded pending bytes."""

    __slots__ = ("session", "transport", "flags", "pending", "skipped", "min_gid")

    def __init__(self, session: Any, flags: int, min_gid: int):
        self.session = session
        self.transport = session.protocol.transport
        self.flags = flags
        self.pending = bytearray()
        self.skipped = 0
        self.min_gid = min_gid


class WatchLog:
    """The daemon's logger: the gid counter, the per-turn budget, the flush."""

    def __init__(self, daemon: Any):
        self.daemon = daemon
        self.watchers: list[Watcher] = daemon.watchers    # the list the hooks test
        self.watcher_limit = daemon.settings.watcher_logbuf_size
        self.worker_limit = daemon.settings.worker_logbuf_size
        self.gid = 0
        self.turn_bytes = 0             # logged since the last flush (the worker buffer)
        self.scheduled = False
        self.flags = 0                  # union of the watchers' flags
        self.stats = daemon.stats       # log_worker_* and log_watcher_* of `stats`

    def add(self, session: Any, flags: int) -> Watcher:
        self.gid += 1                   # memcached's logger_get_gid() for min_gid
        w = Watcher(session, flags, self.gid)
        self.watchers.append(w)
        self._changed()
        return w

    def remove(self, w: Watcher) -> None:
        if w in self.watchers:
            self.watchers.remove(w)
            self._changed()

    def _changed(self) -> None:
        self.flags = 0
        for w in self.watchers:
            self.flags |= w.flags
        store = self.daemon.cache.store
        store.on_evict = (lambda off, now: evicted(self, store, off, now)) \
            if self.flags & LOG_EVICTIONS else None

    def log(self, flag: int, body: bytes) -> None:
        """One event line, prefixed with ts= and gid=, to every watcher of `flag`."""
        if not self.flags & flag:
            return
        now = time.time()
        sec = int(now)
        line = b"ts=%d.%d gid=%d %s\n" % (sec, int((now - sec) * 1e6), self.gid + 1, body)
        if self.turn_bytes + len(line) > self.worker_limit:
            self.stats.log_worker_dropped += 1        # dropped before it was given a gid
            return
        self.gid += 1
        self.turn_bytes += len(line)
        self.stats.log_worker_written += 1
        for w in self.watchers:
            if w.flags & flag:
                self._offer(w, line)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def _offer(self, w: Watcher, line: bytes) -> None:
        queued = len(w.pending) + w.transport.get_write_buffer_size()
        if queued + len(line) + LINE_SLACK > self.watcher_limit:
            w.skipped += 1
            self.stats.log_watcher_skipped += 1
            return
        if w.skipped:
            w.pending += b"skipped=%d\n" % w.skipped
            w.skipped = 0
        w.pending += line
        self.stats.log_watcher_sent += 1

    def flush(self) -> None:
        self.scheduled = False
        self.turn_bytes = 0
        for w in list(self.watchers):
            if w.transport.is_closing():
                self.remove(w)
            elif w.pending:
                data = bytes(w.pending)
                w.pending.clear()
                try:
                    w.transport.write(data)
                except (RuntimeError, OSError):     # half-closed by a shutdown: stop there
                    self.remove(w)


_logs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def log_of(daemon: Any) -> WatchLog:
    wl = _logs.get(daemon)
    if wl is None:
        wl = _logs[daemon] = WatchLog(daemon)
    return wl


def uriencode(key: bytes) -> bytes:
    return quote_from_bytes(key, safe=URI_SAFE).encode()


# ---- the command -----------------------------------------------------------------------------
def handle_watch(session: Any, req: Watch, out: list) -> None:
    """Make this connection a watcher: OK, then log lines only (memcached's conn_watch)."""
    daemon = session.daemon
    if not daemon.settings.watch_enabled:
        raise ClientError("watch commands not allowed")
    wl = log_of(daemon)
    if len(wl.watchers) >= WATCHER_LIMIT:
        raise RawError("WATCHER_TOO_MANY log watcher limit reached")
    out.append(b"OK\r\n")
    wl.add(session, req.flags)
    # No request of this connection runs again: the loop stops after this one and input is
    # read and dropped (the connection's `draining`: "run no more requests").
    session.protocol.draining = True


HANDLERS = {Watch: handle_watch}


# ---- events (called only behind `if daemon.watchers:`) ---------------------------------------
def _fetch_status(store: Any, key: bytes, now: int) -> tuple[bytes, int, int]:
    """What store.get(key) is about to find, without its side effects: memcached's
    was_found (not_found, found, flushed, expired), the class and the value's size."""
    off = store.index.get(key)
    if off is None or off == NIL:
        return b"not_found", 0, 0
    exptime = store.words[(off >> 3) + TIMES] >> 32
    if store.oldest_live and store.is_flushed(off, now):
        return b"flushed", 0, 0
    if exptime and exptime <= now:
        return b"expired", 0, 0
    return b"found", store.class_of(off), store.nbytes_of(off)


def fetched(session: Any, keys: list[bytes]) -> None:
    """item_get lines for the lookups a get/gets/gat/gats is about to make."""
    wl = log_of(session.daemon)
    if not wl.flags & LOG_FETCHERS:
        return
    store = session.cache.store
    now = session.cache.clock.current
    gone: set[bytes] = set()             # a dead item is unlinked by the first lookup
    for key in keys:
        status, cid, size = (b"not_found", 0, 0) if key in gone else \
            _fetch_status(store, key, now)
        if status in (b"flushed", b"expired"):
            gone.add(key)
        wl.log(LOG_FETCHERS, b"type=item_get key=%s status=%s clsid=%d cfd=%d size=%d"
               % (uriencode(key), status, cid, session.fd, size))


def logged_store(session: Any, mode: bytes, key: bytes, off: int, cas: int) -> bytes:
    """cache.complete_store with memcached's item_get (its lookup) and item_store lines."""
    cache = session.cache
    store = cache.store
    fetched(session, [key])
    cid = store.class_of(off)
    nbytes = store.nbytes_of(off)
    exptime = store.words[(off >> 3) + TIMES] >> 32
    reply = cache.complete_store(mode, key, off, cas)
    wl = log_of(session.daemon)
    if wl.flags & LOG_MUTATIONS:
        if mode in (b"append", b"prepend") and reply is Outcome.STORED:
            new = store.index.get(key)              # the joined item memcached logs
            if new is not None:
                cid, nbytes = store.class_of(new), store.nbytes_of(new)
                exptime = store.words[(new >> 3) + TIMES] >> 32
        ttl = (exptime - cache.clock.current) & 0xFFFFFFFF if exptime else 0
        wl.log(LOG_MUTATIONS, b"type=item_store key=%s status=%s cmd=%s ttl=%d clsid=%d "
               b"cfd=%d size=%d" % (uriencode(key), STORE_STATUS.get(reply, b"not_stored"),
                                    mode, ttl, cid, session.fd, nbytes))
    return reply


def evicted(wl: WatchLog, store: Any, off: int, now: int) -> None:
    """type=eviction, from the allocator's eviction hook (store.on_evict)."""
    words = store.words
    times = words[(off >> 3) + TIMES]
    exptime = times >> 32
    fetched_flag = b"yes" if words[(off >> 3) + SIZES] & ITEM_FETCHED else b"no"
    wl.log(LOG_EVICTIONS, b"type=eviction key=%s fetch=%s ttl=%d la=%d clsid=%d size=%d"
           % (uriencode(bytes(store.key_of(off))), fetched_flag,
              exptime - now if exptime else -1, now - (times & TIME_MASK),
              store.class_of(off), store.nbytes_of(off)))


def _endpoint(transport: Any) -> tuple[bytes, int, bytes]:
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple):
        return peer[0].encode(), peer[1], b"tcp"
    return b"unix", 0, b"local"


def conn_new(session: Any) -> None:
    wl = log_of(session.daemon)
    rip, rport, kind = _endpoint(session.protocol.transport)
    wl.log(LOG_CONNEVENTS, b"type=conn_new rip=%s rport=%d transport=%s cfd=%d"
           % (rip, rport, kind, session.fd))


def conn_close(session: Any, exc: BaseException | None) -> None:
    """A connection went away: a watcher stops watching; others log conn_close."""
    wl = log_of(session.daemon)
    for w in wl.watchers:
        if w.session is session:
            wl.remove(w)
            return
    rip, rport, kind = _endpoint(session.protocol.transport)
    reason = b"error" if exc is not None else b"normal"
    wl.log(LOG_CONNEVENTS, b"type=conn_close rip=%s rport=%d transport=%s reason=%s cfd=%d"
           % (rip, rport, kind, reason, session.fd))
