"""The `stats` family's renderers, in memcached 1.6.18's order and names.

The general list is what `memcached -o no_modern` prints (spec/stats.md §1), so tools that
parse it (memcached-tool, memcached_exporter, pymemcache) see what they expect. Per-class
lines come from the allocator's counters. Each renderer takes what it reads as arguments
(counters, store, clock, settings): nothing here knows the daemon or a connection.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from allocator import ItemStore

from .clock import Clock
from .counters import ServerStats
from .replies import END
from .settings import Settings

VERSION = "1.6.18"          # the memcached release whose behaviour we reproduce
LIBEVENT = "asyncio"        # memcached prints its libevent version here


def _rusage(seconds: float) -> str:
    return "%d.%06d" % (int(seconds), int((seconds % 1) * 1_000_000))


def general_stats(s: ServerStats, store: ItemStore, st: Settings, clock: Clock, *,
                  curr_connections: int, accepting: bool, watchers: int = 0,
                  tls: Any = None, mover: Any = None,
                  crawler: Any = None) -> list[tuple[str, object]]:
    """`stats`: the lines and order of memcached 1.6.18 with a flat LRU."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    lines: list[tuple[str, object]] = [
        ("pid", os.getpid()), ("uptime", clock.uptime), ("time", clock.unix_now),
        ("version", VERSION), ("libevent", LIBEVENT), ("pointer_size", 64),
        ("rusage_user", _rusage(ru.ru_utime)), ("rusage_system", _rusage(ru.ru_stime)),
        ("max_connections", st.max_connections), ("curr_connections", curr_connections),
        ("total_connections", s.total_connections)]
    if st.maxconns_fast:
        lines.append(("rejected_connections", s.rejected_connections))
    lines += [
        ("connection_structures", curr_connections + 1),
        ("response_obj_oom", 0), ("response_obj_count", 0), ("response_obj_bytes", 0),
        ("read_buf_count", 0), ("read_buf_bytes", 0), ("read_buf_bytes_free", 0),
        ("read_buf_oom", 0), ("reserved_fds", 5),
        ("cmd_get", s.cmd_get), ("cmd_set", s.cmd_set), ("cmd_flush", s.cmd_flush),
        ("cmd_touch", s.cmd_touch), ("cmd_meta", s.cmd_meta),
        ("get_hits", s.get_hits), ("get_misses", s.get_misses),
        ("get_expired", store.get_expired), ("get_flushed", store.get_flushed),
        ("delete_misses", s.delete_misses), ("delete_hits", s.delete_hits),
        ("incr_misses", s.incr_misses), ("incr_hits", s.incr_hits),
        ("decr_misses", s.decr_misses), ("decr_hits", s.decr_hits),
        ("cas_misses", s.cas_misses), ("cas_hits", s.cas_hits), ("cas_badval", s.cas_badval),
        ("touch_hits", s.touch_hits), ("touch_misses", s.touch_misses),
        ("store_too_large", s.store_too_large), ("store_no_memory", s.store_no_memory),
        ("auth_cmds", s.auth_cmds), ("auth_errors", s.auth_errors)]
    if st.idle_timeout > 0:
        lines.append(("idle_kicks", s.idle_kicks))
    items = [store.item_stats[c] for c in range(1, len(store.item_stats))]
    lines += [
        ("bytes_read", s.bytes_read), ("bytes_written", s.bytes_written),
        ("limit_maxbytes", store.memory_limit),
        ("accepting_conns", 1 if accepting else 0),
        ("listen_disabled_num", s.listen_disabled_num), ("time_in_listen_disabled_us", 0),
        ("threads", st.threads), ("conn_yields", s.conn_yields),
        ("hash_power_level", 16), ("hash_bytes", 524288), ("hash_is_expanding", 0)]
    if mover is not None:                   # -o slab_reassign (allocator/pagemover.py)
        lines += mover.stats()
    if crawler is not None and crawler.enabled:   # the LRU crawler (allocator/crawler.py)
        lines += [("lru_crawler_running", int(crawler.running)),
                  ("lru_crawler_starts", crawler.starts)]
    lines += [
        ("malloc_fails", 0), ("log_worker_dropped", s.log_worker_dropped),
        ("log_worker_written", s.log_worker_written),
        ("log_watcher_skipped", s.log_watcher_skipped), ("log_watcher_sent", s.log_watcher_sent),
        ("log_watchers", watchers)]
    if tls is not None:                     # -Z: ssl_handshake_errors... (tls.TlsState)
        lines += tls.stats()
    lines += [
        ("unexpected_napi_ids", 0), ("round_robin_fallback", 0),
        ("bytes", store.bytes), ("curr_items", store.curr_items),
        ("total_items", store.total_items), ("slab_global_page_pool", len(store.slabs.pool)),
        ("expired_unfetched", sum(i.expired_unfetched for i in items)),
        ("evicted_unfetched", sum(i.evicted_unfetched for i in items)),
        ("evictions", sum(i.evicted for i in items)),
        ("reclaimed", sum(i.reclaimed for i in items)),
        ("crawler_reclaimed", sum(i.crawler_reclaimed for i in items)),
        ("crawler_items_checked", sum(i.crawler_items_checked for i in items)),
        ("lrutail_reflocked", sum(i.lrutail_reflocked for i in items))]
    return lines


def slabs_stats(store: ItemStore) -> list[tuple[str, object]]:
    """`stats slabs`: classes that own a page, then active_slabs and total_malloced."""
    out: list[tuple[str, object]] = []
    active = 0
    for cid in range(1, len(store.slabs.classes)):
        s = store.slabs.classes[cid]
        if not s.total_pages:
            continue
        active += 1
        c = store.slab_counters[cid]
        for name, value in (
                ("chunk_size", s.chunk_size), ("chunks_per_page", s.perslab),
                ("total_pages", s.total_pages), ("total_chunks", s.total_chunks),
                ("used_chunks", s.used_chunks), ("free_chunks", s.free_chunks),
                ("free_chunks_end", 0), ("get_hits", c.get_hits), ("cmd_set", c.cmd_set),
                ("delete_hits", c.delete_hits), ("incr_hits", c.incr_hits),
                ("decr_hits", c.decr_hits), ("cas_hits", c.cas_hits),
                ("cas_badval", c.cas_badval), ("touch_hits", c.touch_hits)):
            out.append((f"{cid}:{name}", value))
    out.append(("active_slabs", active))
    out.append(("total_malloced", store.arena.malloced))
    return out


def items_stats(store: ItemStore, now: int) -> list[tuple[str, object]]:
    """`stats items`: classes holding at least one item, flat-LRU fields."""
    out: list[tuple[str, object]] = []
    for cid in range(1, len(store.slabs.classes)):
        number = store.lru.sizes[cid]
        if not number:
            continue
        i = store.item_stats[cid]
        tail = store.lru.tails[cid]
        age = now - store.times_of(tail)[0]
        for name, value in (
                ("number", number), ("age", age), ("mem_requested", store.mem_requested[cid]),
                ("evicted", i.evicted), ("evicted_nonzero", i.evicted_nonzero),
                ("evicted_time", i.evicted_time), ("outofmemory", i.outofmemory),
                ("tailrepairs", i.tailrepairs), ("reclaimed", i.reclaimed),
                ("expired_unfetched", i.expired_unfetched),
                ("evicted_unfetched", i.evicted_unfetched),
                ("crawler_reclaimed", i.crawler_reclaimed),
                ("crawler_items_checked", i.crawler_items_checked),
                ("lrutail_reflocked", i.lrutail_reflocked)):
            out.append((f"items:{cid}:{name}", value))
    return out


def sizes_stats(store: ItemStore, enabled: bool) -> list[tuple[str, object]]:
    """`stats sizes`: item counts per 32-byte size bucket, when tracking is on."""
    if not enabled:
        return [("sizes_status", "disabled")]
    buckets: dict[int, int] = {}
    for cid in range(1, len(store.slabs.classes)):
        for off in store.lru.iter_from_head(cid):
            size = store.item_total(off)
            bucket = (size + 31) // 32 * 32
            buckets[bucket] = buckets.get(bucket, 0) + 1
    return [(str(b), n) for b, n in sorted(buckets.items())]


def render(lines: list[tuple[str, object]], end: bool = True) -> bytes:
    """STAT lines, then END."""
    body = b"".join(b"STAT %s %s\r\n" % (str(k).encode(), str(v).encode()) for k, v in lines)
    return body + END if end else body
