"""`stats <sub>` and `lru_crawler` commands: the admin side of the text protocol.

Kept apart from commands.py because none of it is on the hot path and most of it is
formatting. Replies follow memcached 1.6.18 started with `-o no_modern`, whose flat LRU and
disabled crawler are what this daemon has.
"""

from __future__ import annotations

from urllib.parse import quote

from allocator import crawl_class
from allocator.item import ITEM_FETCHED

from .cnum import safe_strtol
from .errors import BAD_FORMAT, ClientError, RawError, UnknownCommand
from .replies import END, OK, RESET
from .requests import LruCrawler, Stats
from .session import Daemon, Session
from .settings import settings_stats
from .stats import general_stats, items_stats, render, sizes_stats, slabs_stats

MAX_CLASS_ID = 63


def stats_command(session: Session, req: Stats, out: list) -> None:
    """stats [settings|items|slabs|sizes|sizes_enable|sizes_disable|reset|conns|cachedump|detail]"""
    d = session.daemon
    store = d.cache.store
    if not req.args:
        out.append(render(general_stats(d.stats, store, d.settings, d.clock,
                                        curr_connections=d.curr_connections,
                                        accepting=d.accepting, watchers=len(d.watchers),
                                        tls=d.tls, mover=d.slabs.mover)))
        return
    sub = req.args[0]
    if sub == b"settings":
        out.append(render(settings_stats(
            d.settings, oldest=store.oldest_live, verbosity=d.verbosity,
            maxbytes=store.memory_limit, slab_automove=d.slabs.automove,
            slab_automove_ratio=d.slabs.ratio)))
    elif sub == b"items":
        out.append(render(items_stats(store, d.clock.current)))
    elif sub == b"slabs":
        out.append(render(slabs_stats(store)))
    elif sub == b"sizes":
        out.append(render(sizes_stats(store, d.track_sizes)))
    elif sub in (b"sizes_enable", b"sizes_disable"):
        d.track_sizes = sub == b"sizes_enable"
        status = "enabled" if d.track_sizes else "disabled"
        out.append(render([("sizes_status", status)], end=False))   # 1.6.18: no END here
    elif sub == b"reset":
        reset_counters(d)
        out.append(RESET)
    elif sub == b"conns":
        out.append(render(conns_stats(d)))
    elif sub == b"cachedump":
        out.append(cachedump(session, req.args[1:]))
    elif sub == b"detail":
        out.append(detail(session, req.args[1:]))
    else:
        raise UnknownCommand()


def reset_counters(d: Daemon) -> None:
    """Zero the counters, keep the gauges (items, bytes, connections, pages)."""
    d.stats.reset()
    store = d.cache.store
    store.get_expired = store.get_flushed = 0
    store.total_items = 0
    for s in store.item_stats:
        s.reset()
    for c in store.slab_counters:
        c.reset()
    d.detail.clear()


def conns_stats(d: Daemon) -> list[tuple[str, object]]:
    now = d.clock.current
    lines: list[tuple[str, object]] = []
    for fd, addr in d.listeners:
        lines += [(f"{fd}:addr", addr), (f"{fd}:state", "conn_listening"),
                  (f"{fd}:secs_since_last_cmd", 0)]
    for s in sorted(d.connections, key=lambda s: s.fd):
        lines += [(f"{s.fd}:addr", s.peer), (f"{s.fd}:listen_addr", s.local),
                  (f"{s.fd}:state", "conn_parse_cmd"),
                  (f"{s.fd}:secs_since_last_cmd", now - s.last_cmd)]
    return lines


def cachedump(session: Session, args: list[bytes]) -> bytes:
    """stats cachedump <class> <limit>: the newest items of one class."""
    d = session.daemon
    if not d.settings.dump_enabled:
        raise ClientError("stats cachedump not allowed")
    if len(args) < 2:
        raise ClientError("bad command line")
    cid, limit = safe_strtol(args[0]), safe_strtol(args[1])
    if cid is None or limit is None:
        raise ClientError(BAD_FORMAT)
    if cid < 0 or cid > MAX_CLASS_ID:
        raise ClientError("Illegal slab id")
    store, clock = d.cache.store, d.clock
    lines = []
    if cid < len(store.slabs.classes):
        for off in store.items_of_class(cid, limit if limit > 0 else None):
            _, exptime = store.times_of(off)
            lines.append(b"ITEM %s [%d b; %d s]\r\n" % (
                store.key_of(off), store.nbytes_of(off),
                clock.to_unix(exptime) if exptime else 0))
    return b"".join(lines) + END


def detail(session: Session, args: list[bytes]) -> bytes:
    """stats detail on|off|dump: per key-prefix counters (prefix = key up to -D's char)."""
    d = session.daemon
    sub = args[0] if args else b""
    if sub in (b"on", b"off"):
        d.detail_enabled = sub == b"on"
        return OK
    if sub == b"dump":
        return b"".join(b"PREFIX %s get %d hit %d set %d del %d\r\n" % (p, *c)
                        for p, c in d.detail.items()) + END
    raise ClientError("usage: stats detail on|off|dump")


def lru_crawler(session: Session, req: LruCrawler, out: list) -> None:
    """lru_crawler <sub>. There is no background crawler (expiry is lazy); `enable` turns on
    what it can serve (metadump), as memcached -o no_modern answers otherwise."""
    d, args = session.daemon, req.args
    sub = args[0]
    if sub in (b"enable", b"disable") and len(args) == 1:
        d.lru_crawler = sub == b"enable"
        out.append(OK)
    elif sub in (b"sleep", b"tocrawl") and len(args) == 2:
        if safe_strtol(args[1]) is None:
            raise ClientError(BAD_FORMAT)
        out.append(OK)
    elif sub in (b"crawl", b"metadump", b"mgdump") and len(args) == 2:
        if not d.lru_crawler:
            raise ClientError("lru crawler disabled")
        if sub == b"metadump":
            out.append(metadump(session, args[1:]))
        elif sub == b"crawl":
            crawl(session, args[1])
            out.append(OK)
        else:
            raise UnknownCommand()
    else:
        raise UnknownCommand()


def _class_ids(store, spec: bytes) -> list[int]:
    if spec == b"all":
        return list(range(1, len(store.slabs.classes)))
    ids = [safe_strtol(t) for t in spec.split(b",")]
    if any(i is None or not 0 < i < len(store.slabs.classes) for i in ids):
        raise RawError("BADCLASS invalid class id")
    return ids      # type: ignore[return-value]


def crawl(session: Session, spec: bytes) -> None:
    """lru_crawler crawl <ids|all>: reap expired and flushed items now (synchronously)."""
    store = session.cache.store
    for cid in _class_ids(store, spec):
        crawl_class(store, cid, session.daemon.clock.current)


def metadump(session: Session, args: list[bytes]) -> bytes:
    """lru_crawler metadump all|<ids>: one line per item, bare \\n, then END."""
    store, clock = session.cache.store, session.daemon.clock
    if not args:
        raise ClientError(BAD_FORMAT)
    lines = []
    for cid in _class_ids(store, args[0]):
        for off in store.items_of_class(cid):
            last, exptime = store.times_of(off)
            fetched = b"yes" if store.it_flags(off) & ITEM_FETCHED else b"no"
            lines.append(b"key=%s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\n" % (
                quote(store.key_of(off), safe="").encode(),
                clock.to_unix(exptime) if exptime else -1, clock.to_unix(last),
                store.cas_of(off), fetched, cid, store.item_total(off)))
    return b"".join(lines) + END
