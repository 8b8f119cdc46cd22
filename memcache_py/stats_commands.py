"""`stats <sub>` and `lru_crawler` commands: the admin side of the text protocol.

Kept apart from commands.py because none of it is on the hot path and most of it is
formatting. Replies follow memcached 1.6.18 (proto_text.c, memcached.c's stats).
"""

from __future__ import annotations

from allocator.crawler import CAP_REMAINING, ERROR, EXPIRED, METADUMP, RUNNING, STARTED
from allocator.lru import LAST_CLASS_ID as MAX_CLASS_ID   # "Illegal slab id" past it

from .cnum import safe_strtol, safe_strtoul
from .errors import BAD_FORMAT, ClientError, RawError, UnknownCommand
from .replies import END, OK, RESET
from .metadump import MetadumpSink
from .requests import LruCrawler, Stats
from .session import Daemon, Session
from .settings import settings_stats
from .stats import general_stats, items_stats, render, sizes_stats, slabs_stats




def stats_command(session: Session, req: Stats, out: list) -> None:
    """stats [settings|items|slabs|sizes|sizes_enable|sizes_disable|reset|conns|cachedump|detail]"""
    d = session.daemon
    store = d.cache.store
    if not req.args:
        out.append(render(general_stats(d.stats, store, d.settings, d.clock,
                                        curr_connections=d.curr_connections,
                                        accepting=d.accepting, watchers=len(d.watchers),
                                        tls=d.tls, mover=d.slabs.mover,
                                        crawler=d.crawler.crawler)))
        return
    sub = req.args[0]
    if sub == b"settings":
        out.append(render(settings_stats(
            d.settings, oldest=store.oldest_live, verbosity=d.verbosity,
            maxbytes=store.memory_limit, slab_automove=d.slabs.automove,
            slab_automove_ratio=d.slabs.ratio, lru_crawler=d.crawler.crawler.enabled,
            lru_crawler_sleep=d.crawler.sleep, lru_crawler_tocrawl=d.crawler.tocrawl)))
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
    d.crawler.crawler.starts = 0


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
    """lru_crawler <crawl|metadump> <ids|all|hash> | sleep|tocrawl <n> | enable|disable, with
    proto_text.c's replies. A crawl runs in the background (background.py); a metadump lends
    this connection to the crawler until its END (metadump.py)."""
    d, args = session.daemon, req.args
    ctl = d.crawler
    crawler = ctl.crawler
    sub = args[0]
    if len(args) == 2 and sub == b"crawl":
        if not crawler.enabled:
            raise ClientError("lru crawler disabled")
        out.append(_crawl_reply(_start(d, args[1], EXPIRED, ctl.tocrawl)))
    elif len(args) == 2 and sub == b"metadump":
        if not crawler.enabled:
            raise ClientError("lru crawler disabled")
        if not d.settings.dump_enabled:
            raise RawError("ERROR metadump not allowed")
        if out:
            raise RawError("ERROR cannot pipeline other commands before metadump")
        protocol = session.protocol
        sink = MetadumpSink(protocol, d.cache.store, d.clock, d.stats)
        status, starts = _start(d, args[1], METADUMP, CAP_REMAINING, sink)
        if status == STARTED and starts:
            protocol.lend()           # memcached answers nothing here: the lines, then END
        else:
            out.append(_crawl_reply((status, starts)))
    elif len(args) == 2 and sub in (b"tocrawl", b"sleep"):
        n = safe_strtoul(args[1])
        if n is None:
            raise ClientError(BAD_FORMAT)
        if sub == b"tocrawl":
            ctl.tocrawl = n
        elif n > 1_000_000:
            raise ClientError("sleep must be one second or less")
        else:
            ctl.sleep = n
        out.append(OK)
    elif len(args) == 1 and sub == b"enable":
        if crawler.enabled:
            raise RawError("ERROR failed to start lru crawler thread")
        crawler.enabled = True
        out.append(OK)
    elif len(args) == 1 and sub == b"disable":
        crawler.enabled = False     # a crawl already running finishes, as memcached's thread
        out.append(OK)
    else:
        raise UnknownCommand()


def _start(d: Daemon, spec: bytes, kind: str, remaining: int, sink=None) -> tuple[str, int]:
    """lru_crawler_crawl: start a crawl of the lists `spec` names; (BADCLASS, 0) for a bad id."""
    crawler = d.crawler.crawler
    if spec == b"hash":
        if kind != METADUMP:             # memcached walks the hash table only for metadump
            return ERROR, 0
        lists = None                     # every list, without per-class counters
    elif spec == b"all":
        lists = crawler.lru_ids()
    else:
        cids = []
        for tok in spec.split(b","):     # strtok_r: empty tokens are skipped
            if not tok:
                continue
            cid = safe_strtoul(tok)
            if cid is None or not 0 < cid <= MAX_CLASS_ID:
                return BADCLASS, 0
            cids.append(cid)
        lists = crawler.lru_ids(cids)
    status, starts = crawler.start(lists, remaining, kind, d.clock.current, sink)
    if starts:
        d.crawler.wake()
    return status, starts


BADCLASS = "badclass"
CRAWL_REPLIES = {
    RUNNING: b"BUSY currently processing crawler request\r\n",
    BADCLASS: b"BADCLASS invalid class id\r\n",
    ERROR: b"ERROR an unknown error happened\r\n",
}


def _crawl_reply(result: tuple[str, int]) -> bytes:
    status, starts = result
    if status == STARTED:
        return OK if starts else b"NOTSTARTED no items to crawl\r\n"
    return CRAWL_REPLIES[status]
