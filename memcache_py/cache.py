"""Cache: memcached's command semantics over the allocator's ItemStore.

add/replace/append/prepend/cas rules (`do_store_item`), incr/decr (`do_add_delta`, with its
in-place, space-padded rewrite), touch, delete and flush_all, plus the counters memcached
keeps for each. Storage commands answer with an `Outcome`; replies.py spells it. Every method is synchronous: a read-modify-write here never spans an await,
which is what makes it atomic on the single event loop.
"""

from __future__ import annotations

from allocator import NIL, ItemStore, ItemTooLarge, OutOfMemory

from .clock import Clock
from .cnum import safe_strtoull
from .counters import ServerStats
from .errors import ClientError, ServerError
from .outcome import Outcome

STORED, NOT_STORED = Outcome.STORED, Outcome.NOT_STORED
EXISTS, NOT_FOUND = Outcome.EXISTS, Outcome.NOT_FOUND
INCR_MAX_STORAGE_LEN = 24       # memcached: longer values are never numeric
U64 = 1 << 64


class Cache:
    """The memcached data model: items by key, with CAS, expiry, flush and counters."""

    def __init__(self, store: ItemStore, clock: Clock, stats: ServerStats | None = None,
                 *, flush_enabled: bool = True):
        self.store = store
        self.clock = clock
        self.stats = stats if stats is not None else ServerStats()
        self.flush_enabled = flush_enabled

    # ---- storage: reserve -> (value written by the caller) -> complete_store -------------
    def reserve(self, mode: bytes, key: bytes, flags: int, exptime: int, nbytes: int) -> int:
        """A chunk for an incoming value, or raise the ServerError memcached answers.

        A refused `set` also deletes the key's old value, as memcached does (getset.t).
        """
        store = self.store
        clock = self.clock
        try:
            return store.reserve(key, flags, clock.realtime(exptime) if exptime else 0, nbytes,
                                 clock.current)
        except ItemTooLarge:
            self.stats.store_too_large += 1
            error = ServerError("object too large for cache")
        except OutOfMemory:
            self.stats.store_no_memory += 1
            error = ServerError("out of memory storing object")
        if mode == b"set":
            old = store.get(key, self.clock.current, bump=False)
            if old != NIL:
                store.unlink(old, key)
        raise error

    def complete_store(self, mode: bytes, key: bytes, off: int, cas_unique: int = 0) -> Outcome:
        """Link or release a received item per the command's rule (memcached do_store_item)."""
        store = self.store
        self.stats.cmd_set += 1
        slabs = store.slabs             # store.class_of(off), inlined: the call is 0.5% of
                                        # a set (453 instructions; test_inline_copies.py)
        store.slab_counters[slabs.page_class[off >> slabs.page_shift]].cmd_set += 1
        if mode == b"set":              # link() replaces whatever the key held
            store.link(off, key)
            return STORED
        now = self.clock.current
        old = store.get(key, now, bump=False)
        if mode == b"add":
            if old != NIL:
                store.bump(old, now)
                store.release(off)
                return NOT_STORED
            store.link(off, key)
            return STORED
        if old == NIL:
            store.release(off)
            if mode == b"cas":
                self.stats.cas_misses += 1
                return NOT_FOUND
            return NOT_STORED
        if mode == b"cas":
            return self._compare_and_swap(key, off, old, cas_unique)
        if cas_unique and cas_unique != store.cas_of(old):
            store.release(off)
            return EXISTS
        if mode in (b"append", b"prepend"):
            return self._concat(mode, key, off, old, now)
        store.link(off, key)        # replace
        return STORED

    def abort_store(self, off: int) -> None:
        """A data block that did not end in CRLF: nothing is stored, cmd_set still counts."""
        self.stats.cmd_set += 1
        self.store.slab_counters[self.store.class_of(off)].cmd_set += 1
        self.store.release(off)

    def _compare_and_swap(self, key: bytes, off: int, old: int, cas_unique: int) -> Outcome:
        store = self.store
        counters = store.slab_counters[store.class_of(old)]
        if store.cas_enabled and store.cas_of(old) == cas_unique:
            store.link(off, key)
            self.stats.cas_hits += 1
            counters.cas_hits += 1
            return STORED
        store.release(off)
        self.stats.cas_badval += 1
        counters.cas_badval += 1
        return EXISTS

    def _concat(self, mode: bytes, key: bytes, off: int, old: int, now: int) -> Outcome:
        # memcached allocates a third item holding old + new, keeping the old flags and TTL.
        store = self.store
        added = store.value_bytes(off)
        with store.pin_set() as pins:
            pins.add(old)
            current = store.value_bytes(old)
            _, exptime = store.times_of(old)
            try:
                joined = store.reserve(key, store.flags_of(old), exptime,
                                       len(current) + len(added), now)
            except (ItemTooLarge, OutOfMemory):
                store.release(off)
                return NOT_STORED
        data = current + added if mode == b"append" else added + current
        store.write_value(joined, data)
        store.release(off)
        store.link(joined, key)
        return STORED

    # ---- other commands --------------------------------------------------------------------
    def delete(self, key: bytes) -> bool:
        store = self.store
        off = store.get(key, self.clock.current, bump=False)
        if off == NIL:
            self.stats.delete_misses += 1
            return False
        self.stats.delete_hits += 1
        store.slab_counters[store.class_of(off)].delete_hits += 1
        store.unlink(off, key)
        return True

    def touch(self, key: bytes, exptime: int) -> int:
        """Set a new exptime on a live item; the item or NIL. Counts as memcached's touch."""
        store = self.store
        self.stats.cmd_touch += 1
        off = store.get(key, self.clock.current)
        if off == NIL:
            self.stats.touch_misses += 1
            return NIL
        store.set_exptime(off, self.clock.realtime(exptime))
        self.stats.touch_hits += 1
        store.slab_counters[store.class_of(off)].touch_hits += 1
        return off

    def arith(self, key: bytes, incr: bool, delta: int) -> int | None:
        """incr/decr: the new value, or None when the key is missing.

        Raises ClientError for a non-numeric value, ServerError when a longer value needs
        memory that cannot be had.
        """
        store, stats = self.store, self.stats
        now = self.clock.current
        off = store.get(key, now, bump=False)
        if off == NIL:
            if incr:
                stats.incr_misses += 1
            else:
                stats.decr_misses += 1
            return None
        nbytes = store.nbytes_of(off)
        if nbytes == 0 or nbytes + 2 > INCR_MAX_STORAGE_LEN or store.is_chunked(off):
            raise ClientError("cannot increment or decrement non-numeric value")
        value = safe_strtoull(store.value_bytes(off))
        if value is None:
            raise ClientError("cannot increment or decrement non-numeric value")
        value = (value + delta) % U64 if incr else max(value - delta, 0)
        counters = store.slab_counters[store.class_of(off)]
        if incr:
            stats.incr_hits += 1
            counters.incr_hits += 1
        else:
            stats.decr_hits += 1
            counters.decr_hits += 1
        text = b"%d" % value
        if len(text) <= nbytes and not store.is_pinned(off):
            # In place, right-padded with spaces to the old length; a new CAS.
            store.write_value(off, text.ljust(nbytes))
            store.new_cas(off)
            store.bump(off, now)
            return value
        # Longer (or someone is reading the old bytes): a new item of exactly the new length.
        _, exptime = store.times_of(off)
        try:
            new = store.reserve(key, store.flags_of(off), exptime, len(text), now)
        except (ItemTooLarge, OutOfMemory):
            raise ServerError("out of memory") from None
        store.write_value(new, text)
        store.link(new, key)
        return value

    def flush_all(self, delay: int) -> None:
        """Invalidate every item stored before now, or before `delay` from now."""
        self.stats.cmd_flush += 1
        if not self.flush_enabled:
            raise ClientError("flush_all not allowed")
        if delay > 0:
            self.store.flush(self.clock.realtime(delay) - 1, immediate=False)
        else:
            self.store.flush(self.clock.current - 1, immediate=True)

