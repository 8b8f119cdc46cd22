"""ServerStats: the daemon-wide counters memcached's `stats` reports and `stats reset` zeroes.

Counters only, no rendering (stats.py renders them): the cache and the connections move
these; memcached keeps the same numbers per worker thread and sums them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


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
