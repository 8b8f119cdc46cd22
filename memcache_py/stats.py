"""Server counters and the `stats` family's renderers, in memcached 1.6.18's order and names.

The general list is what `memcached -o no_modern` prints (spec/stats.md §1), so tools that
parse it (memcached-tool, memcached_exporter, pymemcache) see what they expect. Per-class
lines come from the allocator's counters.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .commands import Daemon

VERSION = "1.6.18"          # the memcached release whose behaviour we reproduce
LIBEVENT = "asyncio"        # memcached prints its libevent version here


@dataclass(slots=True)
class ServerStats:
    """Counters that `stats reset` zeroes (memcached's thread stats and global stats)."""

    total_connections: int = 0
    rejected_connections: int = 0
    cmd_get: int = 0
    cmd_set: int = 0
    cmd_flush: int = 0
    cmd_touch: int = 0
    cmd_meta: int = 0
    get_hits: int = 0
    get_misses: int = 0
    delete_misses: int = 0
    delete_hits: int = 0
    incr_misses: int = 0
    incr_hits: int = 0
    decr_misses: int = 0
    decr_hits: int = 0
    cas_misses: int = 0
    cas_hits: int = 0
    cas_badval: int = 0
    touch_hits: int = 0
    touch_misses: int = 0
    store_too_large: int = 0
    store_no_memory: int = 0
    auth_cmds: int = 0
    auth_errors: int = 0
    idle_kicks: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    listen_disabled_num: int = 0
    conn_yields: int = 0
    log_worker_dropped: int = 0     # watch: lines past worker_logbuf_size (watch.py)
    log_worker_written: int = 0
    log_watcher_skipped: int = 0    # lines a slow watcher did not get
    log_watcher_sent: int = 0

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)


def _rusage(seconds: float) -> str:
    return "%d.%06d" % (int(seconds), int((seconds % 1) * 1_000_000))


def general_stats(d: Daemon) -> list[tuple[str, object]]:
    """`stats`: the lines and order of memcached 1.6.18 with a flat LRU."""
    s, store, st = d.stats, d.cache.store, d.settings
    ru = resource.getrusage(resource.RUSAGE_SELF)
    lines: list[tuple[str, object]] = [
        ("pid", os.getpid()), ("uptime", d.clock.uptime), ("time", d.clock.unix_now),
        ("version", VERSION), ("libevent", LIBEVENT), ("pointer_size", 64),
        ("rusage_user", _rusage(ru.ru_utime)), ("rusage_system", _rusage(ru.ru_stime)),
        ("max_connections", st.max_connections), ("curr_connections", d.curr_connections),
        ("total_connections", s.total_connections)]
    if st.maxconns_fast:
        lines.append(("rejected_connections", s.rejected_connections))
    lines += [
        ("connection_structures", d.curr_connections + 1),
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
        ("limit_maxbytes", store.arena.limit_bytes),
        ("accepting_conns", 1 if d.accepting else 0),
        ("listen_disabled_num", s.listen_disabled_num), ("time_in_listen_disabled_us", 0),
        ("threads", st.threads), ("conn_yields", s.conn_yields),
        ("hash_power_level", 16), ("hash_bytes", 524288), ("hash_is_expanding", 0),
        ("malloc_fails", 0), ("log_worker_dropped", s.log_worker_dropped),
        ("log_worker_written", s.log_worker_written),
        ("log_watcher_skipped", s.log_watcher_skipped), ("log_watcher_sent", s.log_watcher_sent),
        ("log_watchers", len(d.watchers)),
        ("unexpected_napi_ids", 0), ("round_robin_fallback", 0),
        ("bytes", store.bytes), ("curr_items", store.curr_items),
        ("total_items", store.total_items), ("slab_global_page_pool", 0),
        ("expired_unfetched", sum(i.expired_unfetched for i in items)),
        ("evicted_unfetched", sum(i.evicted_unfetched for i in items)),
        ("evictions", sum(i.evicted for i in items)),
        ("reclaimed", sum(i.reclaimed for i in items)),
        ("crawler_reclaimed", sum(i.crawler_reclaimed for i in items)),
        ("crawler_items_checked", sum(i.crawler_items_checked for i in items)),
        ("lrutail_reflocked", sum(i.lrutail_reflocked for i in items))]
    return lines


def slabs_stats(d: Daemon) -> list[tuple[str, object]]:
    """`stats slabs`: classes that own a page, then active_slabs and total_malloced."""
    store = d.cache.store
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


def items_stats(d: Daemon) -> list[tuple[str, object]]:
    """`stats items`: classes holding at least one item, flat-LRU fields."""
    store, now = d.cache.store, d.clock.current
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


def sizes_stats(d: Daemon) -> list[tuple[str, object]]:
    """`stats sizes`: item counts per 32-byte size bucket, when tracking is on."""
    if not d.track_sizes:
        return [("sizes_status", "disabled")]
    store = d.cache.store
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
    return body + b"END\r\n" if end else body
