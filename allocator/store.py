"""ItemStore: the facade the daemon calls; items by key over the allocator's rooms.

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

The rooms, each with one job: `index` (key -> item, index.py), `fields` (an item's header and
value in the arena, item.py), `slabs` (pages, classes, free chunks, slabs.py), `lru` (per-class
LRU lists, lru.py), `pins` (refcounts, pins.py), `liveness` (expiry and flush_all, expiry.py),
`tails` (reclaim and evict from LRU tails, eviction.py). This class wires them together and
keeps the item counters memcached reports.
"""

from __future__ import annotations

from .arena import Arena
from .errors import ItemTooLarge, OutOfMemory
from .eviction import TailPuller
from .expiry import Liveness
from .index import KeyIndex
from .invariants import check_store
from .item import (CAS, FLAGS, HEADER_SIZE, HEADER_SIZE_CAS, ITEM_CHUNKED, ITEM_FETCHED,
                   ITEM_LINKED, NBYTES_MASK, NIL, NKEY_MASK, NKEY_SHIFT, SIZES, TIME_MASK,
                   TIMES, ItemFields)
from .lru import LruList
from .pins import Pins, PinSet
from .slabclass import PAGE_SIZE, SlabClassTable, item_ntotal
from .slabs import SlabAllocator
from .stats import ItemClassStats, SlabClassCounters

ITEM_UPDATE_INTERVAL = 60    # memcached: a read bumps an item in the LRU at most once a minute
ALLOC_RETRIES = 10           # memcached's do_item_alloc_pull loop bound


class ItemStore:
    """Key -> item index plus everything memcached's `items.c` does to items."""

    # Slots, not a __dict__: past 30 instance attributes CPython 3.11 stops specialising
    # attribute loads on a dict-backed instance, which cost a get 10% (callgrind: 35.9k
    # instructions against 32.6k) once the rooms' methods were handed on below.
    __slots__ = ("classes", "arena", "slabs", "lru", "words", "item_size_max", "cas_enabled",
                 "header_size", "index", "chains", "fields", "pins", "refs", "liveness",
                 "item_stats", "slab_counters", "tails", "cas_id", "curr_items", "total_items",
                 "bytes", "get_expired", "get_flushed", "mem_requested", "key_of", "nbytes_of",
                 "flags_of", "cas_of", "times_of", "it_flags", "set_it_flags", "set_exptime",
                 "is_chunked", "value_views", "fill_value", "write_value", "value_bytes",
                 "is_pinned", "pin", "unpin", "pin_set", "class_of", "chain_head")

    def __init__(self, memory_limit: int, *, chunk_size: int = 48, factor: float = 1.25,
                 slab_chunk_max: int = PAGE_SIZE // 2, item_size_max: int = PAGE_SIZE,
                 cas_enabled: bool = True, evictions: bool = True,
                 exact_page_bytes: bool = False, memory_file: str | None = None,
                 wipe: bool = True, private: bool = False):
        self.classes = SlabClassTable(chunk_size, factor, slab_chunk_max)
        page_size = max(PAGE_SIZE, slab_chunk_max)
        # Pages the -m limit can grant (more when a page counts as only chunk x perslab),
        # plus memcached's "every class may have one page past the limit".
        smallest_page = min(c.chunk_size * c.chunks_per_page for c in self.classes) \
            if exact_page_bytes else page_size
        capacity = memory_limit // smallest_page + len(self.classes)
        self.arena = Arena(memory_limit, page_size, capacity, memory_file, wipe,
                           private)
        self.slabs = SlabAllocator(self.arena, self.classes, exact_page_bytes)
        self.lru = LruList(self.arena.words, len(self.classes))
        self.words = self.arena.words              # the int64 header view, used everywhere
        self.item_size_max = item_size_max
        self.cas_enabled = cas_enabled
        self.header_size = HEADER_SIZE_CAS if cas_enabled else HEADER_SIZE
        self.index = KeyIndex(self.arena.mem, self.arena.words, self.header_size)
                                                   # key -> offset of its linked item
        self.chains: dict[int, list[int]] = {}     # chunked item -> its further chunks
        self.chain_head: dict[int, int] = {}       # a further chunk -> its item (page mover)
        self.fields = ItemFields(self.arena, self.header_size, cas_enabled, slab_chunk_max,
                                 self.chains)
        self.pins = Pins(self._on_last_unpin)
        self.refs = self.pins.refs                 # pinned offset -> count (read-only here)
        self.liveness = Liveness(self.arena.words, cas_enabled)
        n = len(self.classes) + 1
        self.item_stats = [ItemClassStats() for _ in range(n)]
        self.slab_counters = [SlabClassCounters() for _ in range(n)]
        self.tails = TailPuller(self.lru, self.words, self.pins, self.liveness,
                                self.item_stats, self.unlink, evictions)
        self.cas_id = 0                            # last CAS id handed out
        self.curr_items = 0
        self.total_items = 0
        self.bytes = 0                             # sum of ntotal over linked items
        self.get_expired = 0                       # lookups that found an expired item
        self.get_flushed = 0                       # lookups that found a flushed item
        self.mem_requested = [0] * n               # sum of ntotal per class
        # The daemon reads items through the fields room; these are its bound methods,
        # handed on unchanged (no wrapper, no extra call).
        f = self.fields
        self.key_of, self.nbytes_of, self.flags_of = f.key_of, f.nbytes_of, f.flags_of
        self.cas_of, self.times_of, self.it_flags = f.cas_of, f.times_of, f.it_flags
        self.set_it_flags, self.set_exptime = f.set_it_flags, f.set_exptime
        self.is_chunked, self.value_views, self.fill_value = (f.is_chunked, f.value_views,
                                                              f.fill_value)
        self.write_value, self.value_bytes = f.write_value, f.value_bytes
        self.is_pinned, self.pin, self.unpin = (self.pins.is_pinned, self.pins.pin,
                                                self.pins.unpin)
        self.pin_set = self.pins.pin_set
        self.class_of = self.slabs.class_of        # the class owning an item's chunk

    # ---- sizes and limits --------------------------------------------------------------
    def ntotal(self, nkey: int, nbytes: int, flags: int) -> int:
        return item_ntotal(nkey, nbytes, flags, self.cas_enabled)

    @property
    def evictions(self) -> bool:
        """False with -M: a full class answers out of memory instead of evicting."""
        return self.tails.evictions

    @property
    def on_evict(self):
        """Called with (offset, now) just before an LRU tail item is evicted, or None."""
        return self.tails.on_evict

    @on_evict.setter
    def on_evict(self, hook) -> None:
        self.tails.on_evict = hook

    @property
    def memory_limit(self) -> int:
        """-m in bytes (what `limit_maxbytes` reports)."""
        return self.arena.limit_bytes

    def set_memory_limit(self, nbytes: int) -> None:
        """cache_memlimit: pages already handed out stay; new ones obey the new limit."""
        self.arena.limit_bytes = nbytes

    @property
    def oldest_live(self) -> int:
        return self.liveness.oldest_live

    # ---- lifecycle ---------------------------------------------------------------------
    def reserve(self, key: bytes, flags: int, exptime: int, nbytes: int, now: int) -> int:
        """A pinned, unlinked item ready to receive `nbytes` + CRLF; raises on failure."""
        nkey = len(key)
        # slabclass.item_ntotal, inlined (header_size holds the CAS word): the call costs
        # 86 ns against 39 inline (timeit), and an overwriting set makes three (here, link,
        # _unlink_item). tests/unit/test_inline_copies.py holds all three to the definition.
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
        self.refs[off] = 1                    # the receiver's pin
        return off

    def alloc_chunk(self, cid: int, now: int) -> int:
        """memcached's do_item_alloc_pull: a chunk of class `cid`, evicting if need be."""
        alloc, pull_tail = self.slabs.alloc, self.tails.pull_tail
        for _ in range(ALLOC_RETRIES):
            pull_tail(cid, now, evict=False)       # flat LRU: reclaim a dead tail first
            off = alloc(cid)
            if off != NIL:
                return off
            if pull_tail(cid, now, evict=True) <= 0:
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
            for extra in got[1:]:
                self.chain_head[extra] = got[0]
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
        # slabclass.item_ntotal, inlined as in reserve()
        ntotal = (self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK) + 3
                  + (sizes & NBYTES_MASK) + (4 if words[w + FLAGS] else 0))
        self.mem_requested[cid] += ntotal
        self.bytes += ntotal
        self.curr_items += 1
        self.total_items += 1
        refs = self.refs                      # drop the receiver's pin: Pins.unpin, inlined
        n = refs[off] - 1                     # (linked now, so never the freeing case); the
        if n:                                 # call and its callback cost a set 28 bytecodes
            refs[off] = n                     # (1 445 -> 1 417). test_inline_copies.py checks
        else:                                 # it leaves the pins as unpin() would.
            del refs[off]
        return cas

    def release(self, off: int) -> None:
        """Give up a reserved item that will not be linked."""
        self.pins.unpin(off)

    def unlink(self, off: int, key: bytes | None = None) -> None:
        """Remove a linked item from the index and its LRU; free it unless pinned."""
        if not self.arena.words[(off >> 3) + SIZES] & ITEM_LINKED:
            return
        del self.index[self.fields.key_of(off) if key is None else key]
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
        # slabclass.item_ntotal, inlined as in reserve()
        ntotal = (self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK) + 3
                  + (sizes & NBYTES_MASK) + (4 if words[w + FLAGS] else 0))
        self.mem_requested[cid] -= ntotal
        self.bytes -= ntotal
        self.curr_items -= 1
        if off not in self.refs:
            self._free(off)

    def _on_last_unpin(self, off: int) -> None:
        if not self.arena.words[(off >> 3) + SIZES] & ITEM_LINKED:
            self._free(off)

    def _free(self, off: int) -> None:
        if self.arena.words[(off >> 3) + SIZES] & ITEM_CHUNKED:
            for extra in self.chains.pop(off, ()):
                del self.chain_head[extra]
                self.slabs.free(extra)
        self.slabs.free(off)

    # ---- the page mover's two moves (pagemover.py) -------------------------------------
    def detach(self, off: int) -> None:
        """Unlink an unpinned item but keep its chunk off every free list: the page mover
        owns it from now on (an expired item or an eviction inside the page being emptied)."""
        refs = self.refs
        refs[off] = 1                        # held, so _unlink_item does not free the chunk
        self.unlink(off)
        del refs[off]

    def relocate(self, old: int, new: int, nbytes: int) -> None:
        """Move a linked, unpinned item from chunk `old` to chunk `new` of the same class,
        copying its first `nbytes` (header, key, value or the first chunk of a chain): the
        key names the copy, which takes the original's LRU place, CAS, flags and times. The
        old chunk is the caller's, as with detach."""
        mem = self.arena.mem
        mem[new:new + nbytes] = mem[old:old + nbytes]
        self.index.swap(self.fields.key_of(new), new)
        self.lru.replace(self.slabs.class_of(old), old, new)
        if self.arena.words[(new >> 3) + SIZES] & ITEM_CHUNKED:
            chain = self.chains[new] = self.chains.pop(old)
            for extra in chain:
                self.chain_head[extra] = new

    # ---- lookups -----------------------------------------------------------------------
    def is_flushed(self, off: int, now: int) -> bool:
        return self.liveness.is_flushed(off, now)

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
        if self.liveness.oldest_live and self.liveness.is_flushed(off, now):
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
                self.touch_time(off, now)
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

    def new_cas(self, off: int) -> int:
        """Give a linked item a fresh CAS id (in-place incr/decr, meta invalidation)."""
        if not self.cas_enabled:
            return 0
        self.cas_id += 1
        self.arena.words[(off >> 3) + CAS] = self.cas_id
        return self.cas_id

    def flush(self, oldest_live: int, immediate: bool) -> None:
        """flush_all: every item last stored or bumped at or before `oldest_live` is dead;
        an immediate flush also kills every CAS id handed out so far."""
        next_cas = None
        if immediate and self.cas_enabled:
            self.cas_id += 1
            next_cas = self.cas_id
        self.liveness.flush(oldest_live, next_cas)

    def item_total(self, off: int) -> int:
        """The item's ntotal (memcached's `ITEM_ntotal`)."""
        w = off >> 3
        sizes = self.arena.words[w + SIZES]
        return item_ntotal((sizes >> NKEY_SHIFT) & NKEY_MASK, sizes & NBYTES_MASK,
                           self.arena.words[w + FLAGS], self.cas_enabled)

    # ---- walking -----------------------------------------------------------------------
    def lru_lists(self, cid: int) -> tuple[int, ...]:
        """The ids of class `cid`'s LRU lists in `self.lru`, as the crawler walks them (one
        list per class in the flat LRU)."""
        return (cid,)

    def items_of_class(self, cid: int, limit: int | None = None) -> list[int]:
        """Linked items of a class, head (newest) first."""
        out = []
        for off in self.lru.iter_from_head(cid):
            if limit is not None and len(out) >= limit:
                break
            out.append(off)
        return out

    def check_invariants(self, mover=None) -> None:
        """memcached's asserts, made executable (invariants.py); with the page mover, its
        page's rules too."""
        check_store(self, mover)

__all__ = ["ItemStore", "PinSet", "ITEM_UPDATE_INTERVAL"]
