"""Daemon and Session: the state a handler may see, below the handlers that use it.

`Daemon` is what is shared by every connection (settings, the cache, counters, budgets, the
connection registry); `Session` is one connection's protocol state (parser, queued pins, the
storage command whose data block is being received). Handlers in commands.py, meta_commands.py
and stats_commands.py take a Session; the connection layer owns and tears them down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allocator.crawler import AutoCrawl, Crawler
from allocator.pagemover import PageMover

from .budget import COPY_BUDGET, LINE_BUDGET, MemoryBudget
from .cache import Cache
from .parser import RequestParser
from .settings import Settings
from .values import ValueWriter


Completer = Callable[["Session", Any, int, bool, list], None]


class SlabMaintenance:
    """The page mover's daemon side: the mover (None without -o slab_reassign, as memcached
    starts no mover thread), automove's live settings (`slabs automove`), and how to wake
    the task that drives the mover (background.py)."""

    __slots__ = ("mover", "automove", "ratio", "window", "wake")

    def __init__(self, settings: Settings, store):
        self.mover = PageMover(store) if settings.slab_reassign else None
        self.automove = settings.slab_automove
        self.ratio = settings.slab_automove_ratio
        self.window = settings.slab_automove_window
        self.wake: Callable[[], None] = lambda: None
        if self.mover is not None:
            store.tails.on_evict_class = self.evicted

    def reassign(self, src: int, dst: int):
        """slabs_reassign: schedule a page move (a pagemover.Reassign answer)."""
        result = self.mover.reassign(src, dst)
        self.wake()
        return result

    def evicted(self, cid: int) -> None:
        # slab_automove=2: every eviction asks for a page for its class (items.c)
        if self.automove == 2:
            self.reassign(-1, cid)


class CrawlerControl:
    """The LRU crawler's daemon side: the crawler (allocator/crawler.py), its live settings
    (`lru_crawler sleep|tocrawl|enable|disable`), the autoscheduler when the LRU maintainer
    runs (memcached schedules crawls from that thread), and how to wake the crawler's task."""

    __slots__ = ("crawler", "auto", "sleep", "tocrawl", "wake")

    def __init__(self, settings: Settings, store):
        self.crawler = Crawler(store, enabled=settings.lru_crawler)
        self.auto = AutoCrawl(self.crawler) if settings.lru_maintainer else None
        self.sleep = settings.lru_crawler_sleep         # microseconds per 1000 items
        self.tocrawl = settings.lru_crawler_tocrawl     # items per list per crawl, 0 = all
        self.wake: Callable[[], None] = lambda: None


class Daemon:
    """What the handlers may see of the whole daemon (settings, counters, connections)."""

    def __init__(self, settings: Settings, cache: Cache):
        self.settings = settings
        self.cache = cache
        self.clock = cache.clock
        self.stats = cache.stats
        self.verbosity = settings.verbosity
        self.track_sizes = settings.track_sizes         # stats sizes_enable|disable
        self.accepting = True
        self.connections: set[Session] = set()         # live sessions, for `stats conns`
        self.listeners: list[tuple[int, str]] = []  # (fd, "tcp:host:port") for `stats conns`
        self.detail_enabled = settings.detail_enabled   # -D / stats detail on
        self.detail: dict[bytes, list[int]] = {}     # stats detail: prefix -> get hit set del
        self.prefix_delimiter = settings.stat_key_prefix.encode()[:1] or b":"
        self.crawler = CrawlerControl(settings, cache.store)   # the LRU crawler
        self.slabs = SlabMaintenance(settings, cache.store)   # -o slab_reassign, automove
        self.on_shutdown: Callable[[bool], None] = lambda graceful: None
        # what all connections together may hold beyond their per-connection bounds
        self.line_budget = MemoryBudget(settings.read_buf_mem_limit or LINE_BUDGET)
        self.copy_budget = MemoryBudget(COPY_BUDGET)
        self.values = ValueWriter(cache.store, cache.clock, cache.stats)  # get/gets replies
        self.watchers: list = []                # `watch` connections (watch.py); [] = none
        self.tls: Any = None                    # tls.TlsState with -Z (server.py sets it)
        self.auth: Any = None                   # auth.AuthTable with -Y (server.py sets it)

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
        self.pending: tuple[Any, int, Completer] | None = None
                                        # storage header, its reserved item, how to finish it
        self.deferred = b""                             # reply held until a refused block is gone
        self.closing = False                            # quit/shutdown: stop after this reply
        self.peer = peer                                # "tcp:host:port" of the client
        self.last_cmd = 0                               # clock time of the last input
        self.fd = -1
        self.local = ""                                 # listening address it came in on
        self.close: Callable[[], None] = lambda: None   # closes the connection
        self.protocol: Any = None                       # the connection's asyncio protocol

    def receive_value(self, header: Any, off: int, complete: Completer) -> None:
        """Route a storage command's data block into its reserved item `off`; once the parser
        returns ValueReceived, `finish_value` calls `complete(session, header, off, valid,
        out)`."""
        self.pending = (header, off, complete)
        self.parser.receive_value_into(self.cache.store.value_views(off))

    def finish_value(self, valid: bool, out: list) -> None:
        """The pending data block is in its chunk (`valid`: it ended in CRLF)."""
        header, off, complete = self.pending            # type: ignore[misc]
        complete(self, header, off, valid, out)
        self.pending = None         # only now: if the completer fails, release() still has it

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
            store = self.cache.store
            if store.is_pinned(off):            # not already linked or released
                store.release(off)
        self.pins.release_all()


__all__ = ["Daemon", "Session"]
