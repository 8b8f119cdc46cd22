"""The replay engine: one configuration, one pass over a trace, no sockets.

It builds the daemon's own cache (`server.build_daemon`: the same ItemStore, slab classes and
Cache a `memcache-py -m M -f F` would serve from) on a FakeClock that the trace's timestamps
move, so TTLs expire on the trace's time, not the wall's. A client is modelled as cache-aside:
a get that misses is followed by a set of the recorded size (`fill`), unless the trace records
its sets itself. Hits are decided by `store.get()` finding a live item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from itertools import islice

from allocator import NIL

from ..clock import START_OFFSET, FakeClock
from ..errors import ServerError
from ..server import build_daemon
from ..settings import SettingsError, parse_settings
from .formats import ADD, DELETE, GET, REPLACE, SET

LRU_MODES = ("flat", "segmented")
PROGRESS_EVERY = 1 << 14        # requests per batch, and between progress callbacks


class ConfigError(ValueError):
    """A configuration the daemon would refuse (its one-line message)."""


@dataclass(frozen=True)
class Config:
    memory_mb: int
    growth_factor: float
    lru: str = "flat"
    chunk_size: int = 48            # -n
    item_size_max: str = "1m"       # -I

    def argv(self) -> list[str]:
        """The daemon's command line for this configuration."""
        if self.lru not in LRU_MODES:
            raise ConfigError(f"unknown LRU mode {self.lru!r} (flat or segmented)")
        if self.lru == "segmented":
            raise ConfigError("the segmented LRU (memcached's default) is not in memcache_py "
                              "yet; replay with --lru flat (memcached -o no_modern)")
        return ["-m", str(self.memory_mb), "-f", str(self.growth_factor),
                "-n", str(self.chunk_size), "-I", self.item_size_max, "-o", "no_modern"]


@dataclass
class Result:
    """What one configuration did with the trace (the --json object)."""

    memory_mb: int
    growth_factor: float
    lru: str
    requests: int = 0               # gets
    hits: int = 0
    hit_ratio: float = 0.0
    bytes_requested: int = 0
    bytes_hit: int = 0
    byte_hit_ratio: float = 0.0
    sets: int = 0                   # stores made, recorded or filled
    fills: int = 0                  # of which were cache-aside fills after a miss
    deletes: int = 0
    store_failed: int = 0           # too large, or out of memory
    evictions: int = 0
    expired: int = 0                # items found dead: on a get, at the LRU tail
    items: int = 0                  # at the end
    pages: int = 0
    classes: list[dict] = field(default_factory=list)   # per class at the end
    top_evicting: list[dict] = field(default_factory=list)
    skipped_lines: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def check_settings(config: Config):
    """The daemon's Settings for `config`; ConfigError with its message if it refuses them."""
    try:
        return parse_settings(config.argv())
    except SettingsError as exc:
        raise ConfigError(f"{' '.join(config.argv())}: {exc}") from None


def build_cache(config: Config, clock: FakeClock):
    """The daemon's Cache for `config`, on `clock`."""
    return build_daemon(check_settings(config), clock).cache


def replay(config: Config, requests: Iterable[tuple[int, int, bytes, int, int]], *,
           fill: bool = True, progress: Callable[[int], None] | None = None) -> Result:
    """Run `requests` through a fresh cache of `config`; its counters at the end."""
    clock = FakeClock()
    cache = build_cache(config, clock)
    store = cache.store
    get, reserve, complete, delete = store.get, cache.reserve, cache.complete_store, cache.delete
    n = hits = nbytes = hit_bytes = sets = fills = deletes = failed = done = 0
    stream = iter(requests)
    batch = list(islice(stream, PROGRESS_EVERY))   # streamed in batches: memory stays bounded
    first_ts = batch[0][0] if batch else 0
    base = START_OFFSET - first_ts                  # trace time -> the cache's clock
    now = clock.current
    while batch:
        for ts, op, key, size, ttl in batch:
            t = base + ts
            if t > now:                 # the trace's clock; it never runs backwards here
                clock.current = now = t
            if op == GET:
                n += 1
                nbytes += size
                if get(key, now) != NIL:
                    hits += 1
                    hit_bytes += size
                    continue
                if not fill:
                    continue
                fills += 1
                op = SET
            elif op == DELETE:
                deletes += 1
                delete(key)
                continue
            mode = _MODES[op]
            try:
                off = reserve(mode, key, 0, ttl, size)
            except ServerError:
                failed += 1
                continue
            complete(mode, key, off)
            sets += 1
        done += len(batch)
        if progress is not None:
            progress(done)
        batch = list(islice(stream, PROGRESS_EVERY))
    result = Result(config.memory_mb, config.growth_factor, config.lru, n, hits,
                    hits / n if n else 0.0, nbytes, hit_bytes,
                    hit_bytes / nbytes if nbytes else 0.0, sets, fills, deletes, failed)
    _summarise(store, result)
    return result


_MODES = {SET: b"set", ADD: b"add", REPLACE: b"replace"}


def _summarise(store, result: Result) -> None:
    """Evictions, expiries, and items and pages per class, as `stats items`/`stats slabs`."""
    result.items = store.curr_items
    result.expired = store.get_expired
    for cid in range(1, len(store.classes) + 1):
        s = store.slabs.classes[cid]
        st = store.item_stats[cid]
        result.evictions += st.evicted
        result.expired += st.reclaimed
        if s.total_pages:
            result.classes.append({
                "class": cid, "chunk_size": s.chunk_size, "pages": s.total_pages,
                "items": store.lru.sizes[cid],
                "evicted": st.evicted, "outofmemory": st.outofmemory})
    result.pages = sum(c["pages"] for c in result.classes)
    top = sorted((c for c in result.classes if c["evicted"]), key=lambda c: -c["evicted"])
    result.top_evicting = [{"class": c["class"], "chunk_size": c["chunk_size"],
                            "evicted": c["evicted"]} for c in top[:3]]
