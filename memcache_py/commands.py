"""Command handlers: the one place where parsed requests meet the cache.

`HANDLERS` maps a request type to a short function `(session, request, out)` that appends
reply pieces to `out`: `bytes`, or memoryviews of the arena for values. A handler that queues
a view of an item pins it in `session.pins` first; the connection releases those pins once
the bytes have been handed to the transport. Handlers are synchronous (never await).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from allocator import NIL
from allocator.item import ITEM_CHUNKED

from .budget import COPY_BUDGET, LINE_BUDGET, MemoryBudget
from .cache import Cache
from .cnum import safe_strtol, safe_strtoul
from .errors import BAD_FORMAT, ClientError, ProtocolError, RawError, ServerError, UnknownCommand
from .parser import IT_REFCOUNT_LIMIT, RequestParser
from .requests import (Arith, CacheMemlimit, Delete, FlushAll, Get, Lru, LruCrawler, Quit,
                       Shutdown, Slabs, Stats, Store, Touch, ValueDiscarded, ValueReceived,
                       Verbosity, Version)
from . import meta_commands, stats_commands, watch
from .stats import VERSION

log = logging.getLogger("memcache_py")

END = b"END\r\n"


class Daemon:
    """What the handlers may see of the whole daemon (settings, counters, connections)."""

    def __init__(self, settings: Any, cache: Cache):
        self.settings = settings
        self.cache = cache
        self.clock = cache.clock
        self.stats = cache.stats
        self.verbosity = settings.verbosity
        self.track_sizes = settings.track_sizes         # stats sizes_enable|disable
        self.accepting = True
        self.connections: set = set()           # live sessions, for `stats conns`
        self.listeners: list[tuple[int, str]] = []  # (fd, "tcp:host:port") for `stats conns`
        self.detail_enabled = settings.detail_enabled   # -D / stats detail on
        self.detail: dict[bytes, list[int]] = {}     # stats detail: prefix -> get hit set del
        self.prefix_delimiter = settings.stat_key_prefix.encode()[:1] or b":"
        self.lru_crawler = settings.lru_crawler      # lru_crawler enable|disable
        self.on_shutdown: Callable[[bool], None] = lambda graceful: None
        # what all connections together may hold beyond their per-connection bounds
        self.line_budget = MemoryBudget(settings.read_buf_mem_limit or LINE_BUDGET)
        self.copy_budget = MemoryBudget(COPY_BUDGET)
        self.lone_get = lone_get(self)          # `get <key>` alone in a read (hot path)
        self.watchers: list = []                # `watch` connections (watch.py); [] = none

    @property
    def curr_connections(self) -> int:
        return len(self.connections)

    def record_detail(self, key: bytes, field: int, hit: bool = False) -> None:
        """stats detail: count a get (field 0, + hit), set (2) or delete (3) per key prefix."""
        i = key.find(self.prefix_delimiter)
        if i < 0:
            return                      # memcached only tracks keys that have a prefix
        counts = self.detail.setdefault(key[:i], [0, 0, 0, 0])
        counts[field] += 1
        if hit:
            counts[1] += 1


class Session:
    """Per-connection protocol state: parser, queued reply, pins, the store in progress."""

    __slots__ = ("daemon", "cache", "parser", "pins", "pending", "deferred", "closing", "peer",
                 "last_cmd", "fd", "local", "close", "protocol")

    def __init__(self, daemon: Daemon, parser: RequestParser, peer: str = ""):
        self.daemon = daemon
        self.cache = daemon.cache
        self.parser = parser
        self.pins = daemon.cache.store.pin_set()
        self.pending: tuple[Store, int] | None = None   # header + reserved item being received
        self.deferred = b""                             # reply held until a refused block is gone
        self.closing = False                            # quit/shutdown: stop after this reply
        self.peer = peer                                # "tcp:host:port" of the client
        self.last_cmd = 0                               # clock time of the last input
        self.fd = -1
        self.local = ""                                 # listening address it came in on
        self.close: Callable[[], None] = lambda: None   # closes the connection
        self.protocol: Any = None                       # the connection's asyncio protocol

    def refuse_value(self, reply: bytes) -> None:
        """Swallow the pending data block; send `reply` once it is gone (memcached's swallow)."""
        self.parser.discard_value()
        self.deferred = reply

    def release(self) -> None:
        """Give back every pin and reservation; called on every way a connection ends."""
        if self.pending is not None:
            off = self.pending[1]
            self.pending = None
            self.parser.abandon_value()
            if off in self.cache.store.refs:    # not already linked or released
                self.cache.store.release(off)
        self.pins.release_all()


# ---- retrieval ------------------------------------------------------------------------------
INLINE_VALUE_MAX = 16384    # values up to this size are copied into the reply line at once;
                            # larger ones are queued as pinned views of the arena. Measured:
                            # below ~16 KB a copy costs less than pin + views + join (a 16 KB
                            # get: 3.2 us against 4.0), and 64 queued replies stay under 1 MB.
                            # The line is built from an mmap slice, a second copy that still
                            # beats one formatted from a memoryview (248 vs 304 ns at 100 B,
                            # 575 vs 695 ns at 16 KB)


def handle_get(session: Session, req: Get, out: list) -> None:
    """get|gets|bget <key>*, gat|gats <exptime> <key>*  (the hot path: kept flat on purpose)"""
    if session.daemon.watchers:
        watch.fetched(session, req.keys)
    if req.touch or session.daemon.detail_enabled or req.refs is not None:
        return _handle_get_general(session, req, out)
    cache = session.cache
    store = cache.store
    now = cache.clock.current
    words = store.words
    mem = store.arena.mem
    header_size = store.header_size
    counters, page_class = store.slab_counters, store.slabs.page_class
    page_shift = store.slabs.page_shift
    with_cas = req.with_cas
    keys = req.keys
    hits = 0
    for key, off in zip(keys, store.get_many(keys, now)):
        if off == NIL:
            continue
        hits += 1
        sizes = words[(off >> 3) + 3]          # SIZES: nbytes | nkey << 32 | it_flags << 40
        nbytes = sizes & 0xFFFFFFFF
        if with_cas or nbytes > INLINE_VALUE_MAX or sizes & ITEM_CHUNKED:
            _append_value(session, store, key, off, with_cas, out)
            continue
        # inlined _append_value for the common small plain get
        counters[page_class[off >> page_shift]].get_hits += 1
        start = off + header_size + ((sizes >> 32) & 0xFF)
        out.append(b"VALUE %s %d %d\r\n%s" % (key, words[(off >> 3) + 4], nbytes,
                                              mem[start:start + nbytes + 2]))
    stats = cache.stats
    stats.cmd_get += len(keys)
    stats.get_hits += hits
    stats.get_misses += len(keys) - hits
    if req.end:
        out.append(END)


def lone_get(daemon: Daemon) -> Callable[[Session, bytes, list], bytes | None]:
    """The server of `get <key>` alone in a read (parser.lone_request), for this daemon.

    It returns the whole reply as bytes, or None after queueing it in `out` (a value sent as
    pinned views of the arena). Same counts and bytes as handle_get; its state is bound once
    here rather than looked up per request, since this is the commonest request of all.
    """
    cache = daemon.cache
    store, clock, stats = cache.store, cache.clock, cache.stats
    get, words, mem, header_size = store.get, store.words, store.arena.mem, store.header_size
    counters, page_class = store.slab_counters, store.slabs.page_class
    page_shift = store.slabs.page_shift

    def serve(session: Session, key: bytes, out: list) -> bytes | None:
        if daemon.detail_enabled or daemon.watchers:
            handle_get(session, Get([key], False, False, 0), out)
            return None
        off = get(key, clock.current)
        stats.cmd_get += 1
        if off == NIL:
            stats.get_misses += 1
            return END
        stats.get_hits += 1
        sizes = words[(off >> 3) + 3]          # SIZES: nbytes | nkey << 32 | it_flags << 40
        nbytes = sizes & 0xFFFFFFFF
        if nbytes > INLINE_VALUE_MAX or sizes & ITEM_CHUNKED:
            _append_value(session, store, key, off, False, out)
            out.append(END)
            return None
        counters[page_class[off >> page_shift]].get_hits += 1
        start = off + header_size + ((sizes >> 32) & 0xFF)
        return b"VALUE %s %d %d\r\n%sEND\r\n" % (key, words[(off >> 3) + 4], nbytes,
                                                  mem[start:start + nbytes + 2])
    return serve


def _handle_get_general(session: Session, req: Get, out: list) -> None:
    """gat/gats (touch and count as touches), gets while `stats detail` is on, and gets long
    enough to reach memcached's per-item reference cap (`req.refs`)."""
    cache = session.cache
    store = cache.store
    stats = cache.stats
    now = cache.clock.current
    detail = session.daemon.record_detail if session.daemon.detail_enabled else None
    refs = req.refs     # only get/gets lines can be that long (other lines close past 16 KB)
    if not req.touch:
        stats.cmd_get += len(req.keys)
    for key in req.keys:
        off = cache.touch(key, req.exptime) if req.touch else store.get(key, now)
        if refs is not None and off != NIL:
            n = refs.get(off, 0) + 1        # the link holds one more reference
            if n >= IT_REFCOUNT_LIMIT:
                off = NIL                   # memcached's limited_get: a miss
            else:
                refs[off] = n
        if detail is not None:
            detail(key, 0, off != NIL)
        if off == NIL:
            if not req.touch:
                stats.get_misses += 1
            continue
        if not req.touch:
            stats.get_hits += 1
        _append_value(session, store, key, off, req.with_cas, out, not req.touch)
    if req.end:
        out.append(END)


def _append_value(session: Session, store, key: bytes, off: int, with_cas: bool,
                  out: list, count_hit: bool = True) -> None:
    """Queue `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` for a live item.

    `count_hit` is false for gat/gats, whose hits memcached counts as touches.
    """
    words = store.arena.words
    w = off >> 3
    sizes = words[w + 3]                       # SIZES: nbytes | nkey << 32 | it_flags << 40
    nbytes = sizes & 0xFFFFFFFF
    if count_hit:
        store.slab_counters[store.slabs.page_class[off >> store.slabs.page_shift]].get_hits += 1
    if with_cas:
        header = b"VALUE %s %d %d %d\r\n" % (key, words[w + 4], nbytes, store.cas_of(off))
    else:
        header = b"VALUE %s %d %d\r\n" % (key, words[w + 4], nbytes)
    if nbytes <= INLINE_VALUE_MAX and not sizes & ITEM_CHUNKED:
        start = off + store.header_size + ((sizes >> 32) & 0xFF)
        out.append(header + store.arena.mem[start:start + nbytes + 2])
        return
    out.append(header)
    out.extend(store.value_views(off))
    session.pins.add(off)                      # until these views are joined and written


# ---- storage --------------------------------------------------------------------------------
def handle_store(session: Session, req: Store, out: list) -> None:
    """set|add|replace|append|prepend|cas header: reserve a chunk and route the value into it."""
    cache = session.cache
    if session.daemon.detail_enabled:
        session.daemon.record_detail(req.key, 2)
    try:
        off = cache.reserve(req.mode, req.key, req.flags, req.exptime, req.nbytes)
    except ServerError as exc:  # too large / out of memory: the data block is swallowed
        session.refuse_value(b"" if req.noreply else exc.reply)
        return
    session.pending = (req, off)
    session.parser.receive_value_into(cache.store.value_views(off))


def handle_whole_store(session: Session, req: Store, data: bytes, out: list) -> None:
    """A set whose whole data block came in the same read as its header (its last
    `nbytes + 2` bytes, CRLF checked): handle_store and handle_value without the parser."""
    cache = session.cache
    if session.daemon.detail_enabled:
        session.daemon.record_detail(req.key, 2)
    try:
        off = cache.reserve(req.mode, req.key, req.flags, req.exptime, req.nbytes)
    except ServerError as exc:  # too large / out of memory: the block is dropped with the read
        if not req.noreply:
            out.append(exc.reply)
        return
    session.pending = (req, off)    # if anything below fails, release() gives it back
    cache.store.fill_value(off, memoryview(data)[len(data) - req.nbytes - 2:])
    complete_store(session, req, off, True, out)
    session.pending = None


def handle_value(session: Session, req: ValueReceived, out: list) -> None:
    """The data block of the pending store is in the chunk: link or drop it."""
    header, off = session.pending  # type: ignore[misc]
    COMPLETERS[type(header)](session, header, off, req.valid, out)
    session.pending = None          # only now: if the completer fails, release() still has it


def handle_discarded(session: Session, req: ValueDiscarded, out: list) -> None:
    """A refused store's data block has been swallowed: now its error reply goes out."""
    if session.deferred:
        out.append(session.deferred)
        session.deferred = b""


def complete_store(session: Session, header: Store, off: int, valid: bool, out: list) -> None:
    """Finish a classic storage command once its data block is in the chunk."""
    if not valid:
        session.cache.abort_store(off)
        if not header.noreply:
            out.append(b"CLIENT_ERROR bad data chunk\r\n")
        return
    if session.daemon.watchers:
        reply = watch.logged_store(session, header.mode, header.key, off, header.cas_unique)
    else:
        reply = session.cache.complete_store(header.mode, header.key, off, header.cas_unique)
    if not header.noreply:
        out.append(reply)


# ---- other item commands --------------------------------------------------------------------
def handle_delete(session: Session, req: Delete, out: list) -> None:
    """delete <key> [0] [noreply]"""
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    if session.daemon.detail_enabled:
        session.daemon.record_detail(req.key, 3)
    found = session.cache.delete(req.key)
    if not req.noreply:
        out.append(b"DELETED\r\n" if found else b"NOT_FOUND\r\n")


def handle_arith(session: Session, req: Arith, out: list) -> None:
    """incr|decr <key> <value> [noreply]"""
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    try:
        value = session.cache.arith(req.key, req.incr, req.delta)
    except ProtocolError as exc:
        exc.noreply = req.noreply
        raise
    if not req.noreply:
        out.append(b"NOT_FOUND\r\n" if value is None else b"%d\r\n" % value)


def handle_touch(session: Session, req: Touch, out: list) -> None:
    """touch <key> <exptime> [noreply]"""
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    off = session.cache.touch(req.key, req.exptime)
    if not req.noreply:
        out.append(b"NOT_FOUND\r\n" if off == NIL else b"TOUCHED\r\n")


def handle_flush_all(session: Session, req: FlushAll, out: list) -> None:
    """flush_all [delay] [noreply]"""
    try:
        session.cache.flush_all(req.delay)
    except ClientError as exc:
        exc.noreply = req.noreply
        raise
    if not req.noreply:
        out.append(b"OK\r\n")


# ---- connection and server commands ---------------------------------------------------------
def handle_version(session: Session, req: Version, out: list) -> None:
    out.append(b"VERSION " + VERSION.encode() + b"\r\n")


def handle_verbosity(session: Session, req: Verbosity, out: list) -> None:
    session.daemon.verbosity = min(req.level, 2)
    if not req.noreply:
        out.append(b"OK\r\n")


def handle_quit(session: Session, req: Quit, out: list) -> None:
    session.closing = True


def handle_shutdown(session: Session, req: Shutdown, out: list) -> None:
    """shutdown [graceful]: only with -A."""
    if not session.daemon.settings.shutdown_enabled:
        raise RawError("ERROR: shutdown not enabled")
    if req.args and req.args != [b"graceful"]:
        raise ClientError("invalid shutdown mode")
    session.closing = True
    session.daemon.on_shutdown(bool(req.args))


def handle_cache_memlimit(session: Session, req: CacheMemlimit, out: list) -> None:
    """cache_memlimit <megabytes> [noreply]: move the -m limit within the arena."""
    if req.megabytes < 8:
        raise RawError("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m", req.noreply)
    if req.megabytes > 1_000_000_000:
        raise RawError("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes", req.noreply)
    session.cache.store.arena.limit_bytes = req.megabytes * 1024 * 1024
    if not req.noreply:
        out.append(b"OK\r\n")


def handle_slabs(session: Session, req: Slabs, out: list) -> None:
    """slabs automove|reassign: accepted as memcached -o no_modern answers (no reassign)."""
    sub, noreply = req.args[0], req.args[-1] == b"noreply"
    if sub == b"automove" and len(req.args) >= 2:
        level = safe_strtol(req.args[1])
        if level is None:
            raise ClientError(BAD_FORMAT, noreply)
        if not 0 <= level <= 2:
            raise UnknownCommand(noreply=noreply)
        if not noreply:
            out.append(b"OK\r\n")
    elif sub == b"reassign" and len(req.args) >= 3:
        raise ClientError("slab reassignment disabled", noreply)
    else:
        raise UnknownCommand()


def handle_lru(session: Session, req: Lru, out: list) -> None:
    """lru tune <hot%> <warm%> <hot factor> <warm factor>: validated and kept, as memcached
    does even with a flat LRU; `mode`/`temp_ttl` need the LRU maintainer we do not have."""
    args, noreply = req.args, req.args[-1] == b"noreply"
    if not (len(args) >= 5 and args[0] == b"tune"):
        raise UnknownCommand()
    hot, warm = safe_strtoul(args[1]), safe_strtoul(args[2])
    try:
        hot_factor, warm_factor = float(args[3]), float(args[4])
    except ValueError:
        hot_factor = warm_factor = None
    if hot is None or warm is None or hot_factor is None or warm_factor is None:
        raise UnknownCommand(noreply=noreply)
    if hot + warm > 80:
        raise RawError("ERROR hot and warm pcts must not exceed 80", noreply)
    if hot_factor <= 0 or warm_factor <= 0:
        raise RawError("ERROR hot/warm age factors must be greater than 0", noreply)
    if not noreply:
        out.append(b"OK\r\n")


def handle_lru_crawler(session: Session, req: LruCrawler, out: list) -> None:
    """lru_crawler metadump <all|ids>; the crawler itself is off, as with -o no_modern."""
    stats_commands.lru_crawler(session, req, out)


def handle_stats(session: Session, req: Stats, out: list) -> None:
    stats_commands.stats_command(session, req, out)


HANDLERS: dict[type, Callable[[Session, Any, list], None]] = {
    Get: handle_get, Store: handle_store, ValueReceived: handle_value,
    ValueDiscarded: handle_discarded, Lru: handle_lru,
    Delete: handle_delete, Arith: handle_arith, Touch: handle_touch,
    FlushAll: handle_flush_all, Version: handle_version, Verbosity: handle_verbosity,
    Quit: handle_quit, Shutdown: handle_shutdown, CacheMemlimit: handle_cache_memlimit,
    Slabs: handle_slabs, LruCrawler: handle_lru_crawler,
    Stats: handle_stats,
}
HANDLERS.update(meta_commands.HANDLERS)
HANDLERS.update(watch.HANDLERS)

# header type -> how to finish it once its data block has arrived (valid or not)
COMPLETERS: dict[type, Callable[[Session, Any, int, bool, list], None]] = {
    Store: complete_store, **meta_commands.COMPLETERS}

__all__ = ["Daemon", "Session", "HANDLERS"]
