"""ItemStore: items by key over the slab allocator; their lifecycle, pins, expiry and flush.

Theory of operation (one item's life):
    reserve   take a chunk of the right class (evicting per eviction.py if the class is full),
              write the header and key, pin it for the receiver; value bytes are then written
              into `value_views(off)` by the caller.
    link      index it under its key, replacing (unlinking) the previous item, give it a CAS id,
              push it at the LRU head, and drop the receiver's pin.
    release   drop the receiver's pin of a never-linked item: its chunk is freed.
    unlink    take it out of the index and the LRU; its chunk is freed now, or when its last
              pin goes if a reader still holds it.
A pinned chunk is never evicted, never freed, never reused. All methods are synchronous: the
daemon must never await between reserve and link (see allocator/__init__.py).
"""

from __future__ import annotations

from .arena import Arena
from .errors import ItemTooLarge, OutOfMemory
from .eviction import pull_tail
from .item import (CAS, FLAGS, HEADER_SIZE, HEADER_SIZE_CAS, ITEM_CHUNKED, ITEM_FETCHED,
                   ITEM_FREE, ITEM_LINKED, NBYTES_MASK, NIL, NKEY_MASK, NKEY_SHIFT, SIZES,
                   TIME_MASK, TIMES)
from .index import KeyIndex
from .lru import LruList
from .slabclass import PAGE_SIZE, SlabClassTable, item_ntotal
from .slabs import SlabAllocator
from .stats import ItemClassStats, SlabClassCounters

ITEM_UPDATE_INTERVAL = 60    # memcached: a read bumps an item in the LRU at most once a minute
ALLOC_RETRIES = 10           # memcached's do_item_alloc_pull loop bound


class ItemStore:
    """Key -> item index plus everything memcached's `items.c` does to items."""

    def __init__(self, memory_limit: int, *, chunk_size: int = 48, factor: float = 1.25,
                 slab_chunk_max: int = PAGE_SIZE // 2, item_size_max: int = PAGE_SIZE,
                 cas_enabled: bool = True, evictions: bool = True,
                 exact_page_bytes: bool = False):
        self.classes = SlabClassTable(chunk_size, factor, slab_chunk_max)
        page_size = max(PAGE_SIZE, slab_chunk_max)
        # Pages the -m limit can grant (more when a page counts as only chunk x perslab),
        # plus memcached's "every class may have one page past the limit".
        smallest_page = min(c.chunk_size * c.chunks_per_page for c in self.classes) \
            if exact_page_bytes else page_size
        capacity = memory_limit // smallest_page + len(self.classes)
        self.arena = Arena(memory_limit, page_size, capacity)
        self.slabs = SlabAllocator(self.arena, self.classes, exact_page_bytes)
        self.lru = LruList(self.arena.words, len(self.classes))
        self.words = self.arena.words              # the int64 header view, used everywhere
        self.item_size_max = item_size_max
        self.cas_enabled = cas_enabled
        self.evictions = evictions                 # False with -M
        self.header_size = HEADER_SIZE_CAS if cas_enabled else HEADER_SIZE
        self.index = KeyIndex(self.arena.mem, self.arena.words, self.header_size)
                                                   # key -> offset of its linked item
        self.refs: dict[int, int] = {}             # pinned item offset -> pin count
        self.chains: dict[int, list[int]] = {}     # chunked item -> its further chunks
        self.cas_id = 0                            # last CAS id handed out
        self.oldest_live = 0                       # flush_all: items older than this are dead
        self.oldest_cas = 0                        # flush_all: items with a lower CAS are dead
        self.curr_items = 0
        self.total_items = 0
        self.bytes = 0                             # sum of ntotal over linked items
        self.get_expired = 0                       # lookups that found an expired item
        self.get_flushed = 0                       # lookups that found a flushed item
        n = len(self.classes) + 1
        self.item_stats = [ItemClassStats() for _ in range(n)]
        self.slab_counters = [SlabClassCounters() for _ in range(n)]
        self.mem_requested = [0] * n               # sum of ntotal per class
        self.on_evict = None                       # callable(off, now) told of each eviction

    # ---- sizes -------------------------------------------------------------------------
    def ntotal(self, nkey: int, nbytes: int, flags: int) -> int:
        return item_ntotal(nkey, nbytes, flags, self.cas_enabled)

    def class_of(self, off: int) -> int:
        return self.slabs.class_of(off)

    # ---- lifecycle ---------------------------------------------------------------------
    def reserve(self, key: bytes, flags: int, exptime: int, nbytes: int, now: int) -> int:
        """A pinned, unlinked item ready to receive `nbytes` + CRLF; raises on failure."""
        nkey = len(key)
        # memcached's ntotal (slabclass.item_ntotal), inlined: this is the set path
        ntotal = self.header_size + nkey + 3 + nbytes + (4 if flags else 0)
        if ntotal > self.item_size_max:
            raise ItemTooLarge(ntotal)
        chunk_max = self.classes.slab_chunk_max
        sizes = nbytes | (nkey << NKEY_SHIFT)
        if ntotal <= chunk_max:
            off = self.alloc_chunk(self.classes.class_for(ntotal), now)
        else:
            off = self._alloc_chain(self.header_size + len(key) + nbytes + 2, now)
            sizes |= ITEM_CHUNKED
        w = off >> 3
        words = self.arena.words
        words[w + TIMES] = now | (exptime << 32)
        words[w + SIZES] = sizes
        words[w + FLAGS] = flags
        if self.cas_enabled:
            words[w + CAS] = 0
        start = off + self.header_size
        self.arena.bytes[start:start + nkey] = key
        self.refs[off] = 1
        return off

    def alloc_chunk(self, cid: int, now: int) -> int:
        """memcached's do_item_alloc_pull: a chunk of class `cid`, evicting if need be."""
        alloc = self.slabs.alloc
        for _ in range(ALLOC_RETRIES):
            pull_tail(self, cid, now, evict=False)      # flat LRU: reclaim a dead tail first
            off = alloc(cid)
            if off != NIL:
                return off
            if pull_tail(self, cid, now, evict=True) <= 0:
                break
        self.item_stats[cid].outofmemory += 1
        raise OutOfMemory(cid)

    def _alloc_chain(self, total: int, now: int) -> int:
        # Items above slab_chunk_max: a chain of largest-class chunks, the first one heading it.
        cid, chunk_max = len(self.classes), self.classes.slab_chunk_max
        got: list[int] = []
        try:
            for _ in range(-(-total // chunk_max)):
                got.append(self.alloc_chunk(cid, now))
        except OutOfMemory:
            for off in got:
                self.slabs.free(off)
            raise
        if len(got) > 1:
            self.chains[got[0]] = got[1:]
        return got[0]

    def link(self, off: int, key: bytes) -> int:
        """Make a received item visible under `key`; returns its CAS id."""
        old = self.index.swap(key, off)          # one probe: the key now names the new item
        if old is not None:
            self._unlink_item(old)
        words = self.arena.words
        w = off >> 3
        sizes = words[w + SIZES]
        words[w + SIZES] = sizes | ITEM_LINKED
        cas = 0
        if self.cas_enabled:
            self.cas_id = cas = self.cas_id + 1
            words[w + CAS] = cas
        slabs = self.slabs
        cid = slabs.page_class[off >> slabs.page_shift]
        self.lru.push_head(cid, off)
        # slabclass.item_ntotal, inlined as in reserve(): the set path
        ntotal = (self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK) + 3
                  + (sizes & NBYTES_MASK) + (4 if words[w + FLAGS] else 0))
        self.mem_requested[cid] += ntotal
        self.bytes += ntotal
        self.curr_items += 1
        self.total_items += 1
        refs = self.refs                      # drop the receiver's pin (unpin, inlined)
        n = refs[off] - 1
        if n:
            refs[off] = n
        else:
            del refs[off]
        return cas

    def release(self, off: int) -> None:
        """Give up a reserved item that will not be linked."""
        self.unpin(off)

    def unlink(self, off: int, key: bytes | None = None) -> None:
        """Remove a linked item from the index and its LRU; free it unless pinned."""
        words = self.arena.words
        w = off >> 3
        sizes = words[w + SIZES]
        if not sizes & ITEM_LINKED:
            return
        if key is None:
            key = self.key_of(off)
        del self.index[key]
        self._unlink_item(off)

    def _unlink_item(self, off: int) -> None:
        """Everything unlink does except the index (already updated by the caller)."""
        words = self.arena.words
        w = off >> 3
        sizes = words[w + SIZES]
        words[w + SIZES] = sizes & ~ITEM_LINKED
        slabs = self.slabs
        cid = slabs.page_class[off >> slabs.page_shift]
        self.lru.unlink(cid, off)
        # slabclass.item_ntotal, inlined as in reserve(): the set path
        ntotal = (self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK) + 3
                  + (sizes & NBYTES_MASK) + (4 if words[w + FLAGS] else 0))
        self.mem_requested[cid] -= ntotal
        self.bytes -= ntotal
        self.curr_items -= 1
        if off not in self.refs:
            if sizes & ITEM_CHUNKED:
                self._free(off)
            else:
                slabs.free(off)

    def _free(self, off: int) -> None:
        for extra in self.chains.pop(off, ()):
            self.slabs.free(extra)
        self.slabs.free(off)

    def _ntotal_of(self, sizes: int, flags: int) -> int:
        return item_ntotal((sizes >> NKEY_SHIFT) & NKEY_MASK, sizes & NBYTES_MASK, flags,
                           self.cas_enabled)

    # ---- pins --------------------------------------------------------------------------
    def pin(self, off: int) -> None:
        refs = self.refs
        refs[off] = refs.get(off, 0) + 1

    def unpin(self, off: int) -> None:
        refs = self.refs
        n = refs[off] - 1
        if n:
            refs[off] = n
            return
        del refs[off]
        if not self.arena.words[(off >> 3) + SIZES] & ITEM_LINKED:
            self._free(off)

    def pin_set(self) -> PinSet:
        return PinSet(self)

    # ---- lookups -----------------------------------------------------------------------
    def is_flushed(self, off: int, now: int) -> bool:
        """memcached's item_is_flushed (spec/slabs.md §6)."""
        oldest = self.oldest_live
        if oldest == 0 or oldest > now:
            return False
        w = off >> 3
        words = self.arena.words
        if words[w + TIMES] & TIME_MASK <= oldest:
            return True
        return bool(self.oldest_cas and self.cas_enabled
                    and 0 < words[w + CAS] < self.oldest_cas)

    def get(self, key: bytes, now: int, bump: bool = True) -> int:
        """The live item of `key` or NIL; dead items found here are unlinked (lazy expiry).

        `bump` marks the item fetched and moves it to the LRU head at most once a minute;
        meta `mg ... u` and `me` look without bumping.
        """
        off = self.index.get(key)
        if off is None:
            return NIL
        words = self.words
        w = off >> 3
        times = words[w + TIMES]
        if self.oldest_live and self.is_flushed(off, now):
            self.unlink(off, key)
            self.get_flushed += 1
            return NIL
        exptime = times >> 32
        if exptime and exptime <= now:
            self.unlink(off, key)
            self.get_expired += 1
            return NIL
        if bump:
            sizes = words[w + SIZES]
            if not sizes & ITEM_FETCHED:
                words[w + SIZES] = sizes | ITEM_FETCHED
            if (times & TIME_MASK) < now - ITEM_UPDATE_INTERVAL:
                self.touch_time(off, now)       # bump(), inlined: this is the get path
        return off

    def get_many(self, keys: list[bytes], now: int) -> list[int]:
        """get(key, now) for each key in order: a multi-get's lookups. A key repeated after
        its item was found dead misses without being counted again (get() no longer finds it)."""
        get = self.get
        return [get(key, now) for key in keys]

    def bump(self, off: int, now: int) -> None:
        """memcached's do_item_update: to the LRU head at most once per ITEM_UPDATE_INTERVAL."""
        if self.words[(off >> 3) + TIMES] & TIME_MASK < now - ITEM_UPDATE_INTERVAL:
            self.touch_time(off, now)

    def touch_time(self, off: int, now: int) -> None:
        """Record an access now and move the item to its LRU head (memcached do_item_update)."""
        words = self.arena.words
        w = off >> 3
        words[w + TIMES] = (words[w + TIMES] & ~TIME_MASK) | now
        if words[w + SIZES] & ITEM_LINKED:
            self.lru.bump(self.slabs.class_of(off), off)

    def set_exptime(self, off: int, exptime: int) -> None:
        w = (off >> 3) + TIMES
        words = self.arena.words
        words[w] = (words[w] & TIME_MASK) | (exptime << 32)

    def new_cas(self, off: int) -> int:
        """Give a linked item a fresh CAS id (in-place incr/decr, meta invalidation)."""
        if not self.cas_enabled:
            return 0
        self.cas_id += 1
        self.arena.words[(off >> 3) + CAS] = self.cas_id
        return self.cas_id

    def flush(self, oldest_live: int, immediate: bool) -> None:
        """flush_all: every item last stored or bumped at or before `oldest_live` is dead."""
        self.oldest_live = oldest_live
        if immediate and self.cas_enabled:
            self.oldest_cas = self.cas_id + 1
            self.cas_id += 1
        elif not immediate:
            self.oldest_cas = 0

    # ---- item fields -------------------------------------------------------------------
    def key_of(self, off: int) -> bytes:
        nkey = (self.arena.words[(off >> 3) + SIZES] >> NKEY_SHIFT) & NKEY_MASK
        start = off + self.header_size
        return self.arena.mem[start:start + nkey]

    def nbytes_of(self, off: int) -> int:
        return self.arena.words[(off >> 3) + SIZES] & NBYTES_MASK

    def flags_of(self, off: int) -> int:
        return self.arena.words[(off >> 3) + FLAGS]

    def cas_of(self, off: int) -> int:
        return self.arena.words[(off >> 3) + CAS] if self.cas_enabled else 0

    def times_of(self, off: int) -> tuple[int, int]:
        """(last access time, exptime), server-relative seconds."""
        t = self.arena.words[(off >> 3) + TIMES]
        return t & TIME_MASK, t >> 32

    def it_flags(self, off: int) -> int:
        return self.arena.words[(off >> 3) + SIZES]

    def set_it_flags(self, off: int, set_bits: int = 0, clear_bits: int = 0) -> None:
        w = (off >> 3) + SIZES
        words = self.arena.words
        words[w] = (words[w] | set_bits) & ~clear_bits

    def item_total(self, off: int) -> int:
        """The item's ntotal (memcached's `ITEM_ntotal`)."""
        w = off >> 3
        return self._ntotal_of(self.arena.words[w + SIZES], self.arena.words[w + FLAGS])

    def value_views(self, off: int) -> list[memoryview]:
        """The value and its CRLF, as writable views of the arena (several if chunked)."""
        words = self.arena.words
        sizes = words[(off >> 3) + SIZES]
        n = (sizes & NBYTES_MASK) + 2
        start = off + self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
        mv = self.arena.bytes
        if not sizes & ITEM_CHUNKED:
            return [mv[start:start + n]]
        chunk_max = self.classes.slab_chunk_max
        first = min(n, off + chunk_max - start)
        views = [mv[start:start + first]]
        n -= first
        for extra in self.chains.get(off, ()):
            take = min(n, chunk_max)
            views.append(mv[extra:extra + take])
            n -= take
        return views

    def fill_value(self, off: int, src) -> None:
        """Write a received value and its CRLF (`src`, bytes-like) into a reserved item."""
        sizes = self.arena.words[(off >> 3) + SIZES]
        if not sizes & ITEM_CHUNKED:                # one span: a single slice assignment
            start = off + self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
            self.arena.mem[start:start + len(src)] = src
            return
        at = 0
        for view in self.value_views(off):
            view[:] = src[at:at + len(view)]
            at += len(view)

    def value_bytes(self, off: int) -> bytes:
        """The value without CRLF, copied (for incr/decr, append and tests; not the get path)."""
        return b"".join(self.value_views(off))[:-2]

    def crawl(self, cid: int, now: int) -> tuple[int, int]:
        """The LRU crawler's pass over one class: unlink every expired or flushed item.

        Returns (items checked, items reclaimed); counted as memcached's crawler_* stats.
        """
        checked = reclaimed = 0
        for off in list(self.lru.iter_from_tail(cid)):
            checked += 1
            exptime = self.arena.words[(off >> 3) + TIMES] >> 32
            if (exptime and exptime <= now) or self.is_flushed(off, now):
                self.unlink(off)
                reclaimed += 1
        stats = self.item_stats[cid]
        stats.crawler_items_checked += checked
        stats.crawler_reclaimed += reclaimed
        return checked, reclaimed

    # ---- walking -----------------------------------------------------------------------
    def items_of_class(self, cid: int, limit: int | None = None) -> list[int]:
        """Linked items of a class, head (newest) first."""
        out = []
        for off in self.lru.iter_from_head(cid):
            if limit is not None and len(out) >= limit:
                break
            out.append(off)
        return out

    def check_invariants(self) -> None:
        """memcached's asserts, made executable: raise AssertionError on any inconsistency."""
        words = self.arena.words
        linked = 0
        chain_chunks = {c: 0 for c in range(len(self.slabs.classes))}
        for head, extra in self.chains.items():
            chain_chunks[self.class_of(head)] += len(extra)
        for cid in range(1, len(self.slabs.classes)):
            s = self.slabs.classes[cid]
            free = self.slabs.free_list(cid)
            assert len(free) == s.free_count, f"class {cid}: free list length != count"
            for off in free:
                assert off not in self.refs, f"pinned chunk {off} on the free list"
                assert words[(off >> 3) + SIZES] & ITEM_FREE, f"free chunk {off} not marked"
                assert self.class_of(off) == cid
            lru = self.lru.check(cid)
            for off in lru:
                sizes = words[(off >> 3) + SIZES]
                assert sizes & ITEM_LINKED, f"unlinked item {off} in LRU {cid}"
                assert self.index.get(self.key_of(off)) == off, f"LRU item {off} not indexed"
                assert self.class_of(off) == cid
            linked += len(lru)
            held = sum(1 for off in self.refs if self.class_of(off) == cid
                       and not words[(off >> 3) + SIZES] & ITEM_LINKED)
            assert s.free_chunks + s.used_chunks == s.total_chunks
            in_use = len(lru) + held + chain_chunks[cid]
            assert s.used_chunks == in_use, (
                f"class {cid}: used {s.used_chunks} != linked {len(lru)} + pinned-unlinked "
                f"{held} + chained {chain_chunks[cid]}")
        assert linked == len(self.index) == self.curr_items, "index, LRUs and curr_items disagree"
        assert len(self.index.offsets()) == linked, "index holds offsets the LRUs do not"
        for off, n in self.refs.items():
            assert n > 0 and not words[(off >> 3) + SIZES] & ITEM_FREE


class PinSet:
    """Pins held together and released together: a connection's queued replies, a batch.

    Use as a context manager, or hold it and call `release_all()` (idempotent) from the
    owner's teardown, so no path can leak a pin.
    """

    __slots__ = ("store", "held")

    def __init__(self, store: ItemStore):
        self.store = store
        self.held: list[int] = []

    def add(self, off: int) -> None:
        refs = self.store.refs
        refs[off] = refs.get(off, 0) + 1
        self.held.append(off)

    def release_all(self) -> None:
        held, self.held = self.held, []
        unpin = self.store.unpin
        for off in held:
            unpin(off)

    def __len__(self) -> int:
        return len(self.held)

    def __enter__(self) -> PinSet:
        return self

    def __exit__(self, *exc) -> None:
        self.release_all()
