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

from .cnum import safe_strtol, safe_strtoul
from .errors import BAD_FORMAT, ClientError, ProtocolError, RawError, ServerError, UnknownCommand
from .parser import IT_REFCOUNT_LIMIT
from .replies import (BAD_DATA_CHUNK, DELETED, END, NOT_FOUND, OK, STORE_REPLIES, TOUCHED,
                      number)
from .requests import (Arith, CacheMemlimit, Delete, FlushAll, Get, Lru, LruCrawler, Quit,
                       Shutdown, Slabs, Stats, Store, Touch, ValueDiscarded, ValueReceived,
                       Verbosity, Version)
from .requests import RefreshCerts
from . import meta_commands, stats_commands, watch
from .session import Session
from .stats import VERSION

log = logging.getLogger("memcache_py")


# ---- retrieval ------------------------------------------------------------------------------
def handle_get(session: Session, req: Get, out: list) -> None:
    """get|gets|bget <key>*, gat|gats <exptime> <key>*"""
    if session.daemon.watchers:
        watch.fetched(session, req.keys)
    if req.touch or session.daemon.detail_enabled or req.refs is not None:
        return _handle_get_general(session, req, out)
    cache = session.cache
    keys = req.keys
    hits = session.daemon.values.append_hits(out, session.pins, keys,
                                             cache.store.get_many(keys, cache.clock.current),
                                             req.with_cas)
    stats = cache.stats
    stats.cmd_get += len(keys)
    stats.get_hits += hits
    stats.get_misses += len(keys) - hits
    if req.end:
        out.append(END)


def _handle_get_general(session: Session, req: Get, out: list) -> None:
    """gat/gats (touch and count as touches), gets while `stats detail` is on, and gets long
    enough to reach memcached's per-item reference cap (`req.refs`)."""
    cache = session.cache
    store = cache.store
    stats = cache.stats
    now = cache.clock.current
    append = session.daemon.values.append
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
        append(out, session.pins, key, off, req.with_cas, not req.touch)
    if req.end:
        out.append(END)


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
    session.receive_value(req, off, complete_store)


def handle_whole_store(session: Session, req: Store, value: memoryview, out: list) -> None:
    """A set whose whole data block came in the same read as its header (parser.lone_request:
    `value` is the block with its CRLF, checked): handle_store and handle_value in one."""
    cache = session.cache
    if session.daemon.detail_enabled:
        session.daemon.record_detail(req.key, 2)
    try:
        off = cache.reserve(req.mode, req.key, req.flags, req.exptime, req.nbytes)
    except ServerError as exc:  # too large / out of memory: the block is dropped with the read
        if not req.noreply:
            out.append(exc.reply)
        return
    session.pending = (req, off, complete_store)    # if anything fails, release() has it
    cache.store.fill_value(off, value)
    complete_store(session, req, off, True, out)
    session.pending = None


def handle_value(session: Session, req: ValueReceived, out: list) -> None:
    """The data block of the pending store arrived after its header's read: finish it."""
    session.finish_value(req.valid, out)


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
            out.append(BAD_DATA_CHUNK)
        return
    if session.daemon.watchers:
        outcome = watch.logged_store(session, header.mode, header.key, off, header.cas_unique)
    else:
        outcome = session.cache.complete_store(header.mode, header.key, off, header.cas_unique)
    if not header.noreply:
        out.append(STORE_REPLIES[outcome])


# ---- other item commands --------------------------------------------------------------------
def handle_delete(session: Session, req: Delete, out: list) -> None:
    """delete <key> [0] [noreply]"""
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    if session.daemon.detail_enabled:
        session.daemon.record_detail(req.key, 3)
    found = session.cache.delete(req.key)
    if not req.noreply:
        out.append(DELETED if found else NOT_FOUND)


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
        out.append(NOT_FOUND if value is None else number(value))


def handle_touch(session: Session, req: Touch, out: list) -> None:
    """touch <key> <exptime> [noreply]"""
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    off = session.cache.touch(req.key, req.exptime)
    if not req.noreply:
        out.append(NOT_FOUND if off == NIL else TOUCHED)


def handle_flush_all(session: Session, req: FlushAll, out: list) -> None:
    """flush_all [delay] [noreply]"""
    try:
        session.cache.flush_all(req.delay)
    except ClientError as exc:
        exc.noreply = req.noreply
        raise
    if not req.noreply:
        out.append(OK)


# ---- connection and server commands ---------------------------------------------------------
def handle_version(session: Session, req: Version, out: list) -> None:
    out.append(b"VERSION " + VERSION.encode() + b"\r\n")


def handle_verbosity(session: Session, req: Verbosity, out: list) -> None:
    session.daemon.verbosity = min(req.level, 2)
    if not req.noreply:
        out.append(OK)


def handle_refresh_certs(session: Session, req: RefreshCerts, out: list) -> None:
    """refresh_certs [noreply]: OK, or memcached's error line (sent even with noreply)."""
    tls = session.daemon.tls
    error = "Error TLS not enabled" if tls is None else tls.refresh()
    if error is not None:
        out.append(error.encode() + b"\r\n")
    elif not req.noreply:
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
    if session.daemon.settings.memory_file is not None:    # memcached: no resize of a mapping
        raise RawError("MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust", req.noreply)
    session.cache.store.set_memory_limit(req.megabytes * 1024 * 1024)
    if not req.noreply:
        out.append(OK)


def handle_slabs(session: Session, req: Slabs, out: list) -> None:
    """slabs reassign <src> <dst> | slabs automove <0|1|2> | slabs automove ratio <f>:
    memcached's process_slabs_command, token counts and replies as in proto_text.c."""
    args, d = req.args, session.daemon.slabs
    if len(args) == 3 and args[0] == b"reassign":      # no noreply here, as memcached
        if d.mover is None:
            raise ClientError("slab reassignment disabled")
        src, dst = safe_strtol(args[1]), safe_strtol(args[2])
        if src is None or dst is None:
            raise ClientError(BAD_FORMAT)
        out.append(d.reassign(src, dst).value.encode() + b"\r\n")
    elif len(args) >= 2 and args[0] == b"automove":
        noreply = args[-1] == b"noreply"
        if args[1] == b"ratio":
            ratio = _strtod(args[2]) if len(args) >= 3 else None
            if ratio is None:
                raise UnknownCommand(noreply=noreply)
            d.ratio = ratio
        else:
            level = safe_strtoul(args[1])
            if level is None:
                raise ClientError(BAD_FORMAT, noreply)
            if level > 2:
                raise UnknownCommand(noreply=noreply)
            d.automove = level
        if not noreply:
            out.append(OK)
    else:
        raise UnknownCommand()


def _strtod(tok: bytes) -> float | None:
    """memcached's safe_strtod for a token: a whole decimal number, else None."""
    if b"_" in tok:
        return None
    try:
        return float(tok)
    except ValueError:
        return None


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
        out.append(OK)


def handle_lru_crawler(session: Session, req: LruCrawler, out: list) -> None:
    """lru_crawler crawl|metadump|sleep|tocrawl|enable|disable (stats_commands.py)."""
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
    Stats: handle_stats, RefreshCerts: handle_refresh_certs,
}
HANDLERS.update(meta_commands.HANDLERS)
HANDLERS.update(watch.HANDLERS)

__all__ = ["HANDLERS"]
