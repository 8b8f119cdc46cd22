"""PageMover: empty a class's oldest page and give it to another class or the global pool.

memcached's `slab_rebalance_start/move/finish` (slabs.c, 1.6.18) without the thread: the
daemon calls `step()` from a background task, and every step handles at most `budget` chunks
of the page synchronously, so the event loop never stalls and nothing runs in the middle of
one chunk's move. A chunk of the page being emptied is, by the time the page is given away:
  - a free chunk, cut off its class's free list;
  - an expired or flushed item, unlinked (its chunk kept: `detach`);
  - a live item, rescued: copied into a free chunk of the same class outside the page and
    swapped in under its key, keeping its LRU place, CAS, flags and times (`relocate`);
    pieces of chunked items are copied the same way (`chunk_rescues`);
  - a pinned item (a reply still reads it, a value is being received into it) is never
    copied: it is counted busy and the page is walked again later, with backoff by the
    caller; after SLAB_MOVE_MAX_LOOPS passes a linked one is unlinked (`busy_deletes`) and
    its chunk comes back free when the last pin goes.
When no free chunk is left for a rescue, the class's LRU tail is evicted (memcached 1.6.34's
choice; 1.6.18 evicted the item being moved), but counted as 1.6.18 counts it, in
`slab_reassign_evictions_nomem` and not in `evictions`. Chunks the mover has done with are
marked in `completed` and belong to it: they are on no free list, index or LRU.
"""

from __future__ import annotations

import enum

from .item import FREE_FLAG_WORD, ITEM_CHUNKED, ITEM_FREE, ITEM_LINKED, NBYTES_MASK, NIL, \
    NKEY_MASK, NKEY_SHIFT, PREV, SIZES, TIMES

SLAB_MOVE_MAX_LOOPS = 1000     # memcached 1.6.18: passes over busy items before busy deletes
CHUNKS_PER_STEP = 64           # chunks handled per step (one loop turn)
VICTIM_TRIES = 5               # LRU tail items looked at for one rescue (lru_pull_tail's tries)


class Reassign(enum.Enum):
    """slabs_reassign's answers (memcached's reassign_result_type)."""

    OK = "OK"
    RUNNING = "BUSY currently processing reassign request"
    BADCLASS = "BADCLASS invalid src or dst class id"
    NOSPARE = "NOSPARE source class has no spare pages"
    SAME = "SAME src and dst class are identical"


class PageMover:
    """The one page move in progress (memcached's `slab_rebal`) and the mover's counters."""

    def __init__(self, store):
        self.store = store
        self.slabs = store.slabs
        self.largest = len(store.classes)      # power_largest
        self.pick_cur = 0                      # slabs_reassign_pick_any's static cursor
        self.src = self.dst = 0
        self.page = NIL                        # offset of the page being emptied
        self.pos = 0                           # next chunk index of the current pass
        self.completed = bytearray()           # chunk index -> done with (mover owns it)
        self.busy = 0                          # busy chunks seen this pass
        self.busy_loops = 0
        # the `stats` counters, memcached's names
        self.slabs_moved = 0
        self.rescues = 0
        self.chunk_rescues = 0
        self.evictions_nomem = 0
        self.inline_reclaim = 0
        self.busy_items = 0
        self.busy_deletes = 0

    @property
    def running(self) -> bool:
        """slab_reassign_running."""
        return self.page != NIL

    # ---- starting ----------------------------------------------------------------------
    def pages_of(self, cid: int) -> list[int]:
        return self.slabs.pool if cid == 0 else self.slabs.classes[cid].pages

    def _pick_any(self, dst: int) -> int:
        for _ in range(self.largest):
            self.pick_cur = self.pick_cur + 1 if self.pick_cur < self.largest else 1
            if self.pick_cur != dst and len(self.pages_of(self.pick_cur)) > 1:
                return self.pick_cur
        return -1

    def reassign(self, src: int, dst: int) -> Reassign:
        """do_slabs_reassign: schedule moving one page of `src` (-1: any) to `dst` (0: pool)."""
        if self.running:
            return Reassign.RUNNING
        if src == dst:
            return Reassign.SAME
        if src == -1:
            src = self._pick_any(dst)
        if not (0 <= src <= self.largest and 0 <= dst <= self.largest):
            return Reassign.BADCLASS
        if len(self.pages_of(src)) < 2:
            return Reassign.NOSPARE
        self._start(src, dst)
        return Reassign.OK

    def _start(self, src: int, dst: int) -> None:
        # Always the oldest page: the most likely to hold the oldest items.
        self.src, self.dst, self.page = src, dst, self.pages_of(src)[0]
        self.pos = self.busy = self.busy_loops = 0
        if src == 0:
            self.completed = bytearray()
            return
        s = self.slabs.classes[src]
        self.completed = bytearray(s.perslab)
        uncut = self.slabs.drop_uncut(self.page)    # chunks never handed out: nothing to do
        for i in range(s.perslab - uncut, s.perslab):
            self.completed[i] = 1
            self.store.arena.words[((self.page + i * s.chunk_size) >> 3) + SIZES] = \
                FREE_FLAG_WORD

    # ---- moving ------------------------------------------------------------------------
    def step(self, now: int, budget: int = CHUNKS_PER_STEP) -> int:
        """Handle up to `budget` chunks; finish the move when the page is empty. Returns how
        many busy chunks were met (the caller backs off when there were any)."""
        if not self.running:
            return 0
        if self.src == 0:
            self._finish()
            return 0
        s = self.slabs.classes[self.src]
        was_busy = 0
        for _ in range(budget):
            i = self.pos
            if not self.completed[i]:
                was_busy += self._move_chunk(self.page + i * s.chunk_size, i, now)
            self.pos = i + 1
            if self.pos >= s.perslab:
                if self.busy:                   # some chunks were busy: walk the page again
                    self.busy_items += self.busy
                    self.busy = 0
                    self.busy_loops += 1
                    self.pos = 0
                    break
                self._finish()
                break
        return was_busy

    def _in_page(self, off: int) -> bool:
        return self.page <= off < self.page + self.slabs.arena.page_size

    def _done(self, off: int) -> None:
        """The mover owns the chunk at `off` (in its page) from now on."""
        self.completed[(off - self.page) // self.slabs.classes[self.src].chunk_size] = 1
        self.store.arena.words[(off >> 3) + SIZES] = FREE_FLAG_WORD

    def _busy(self) -> int:
        self.busy += 1
        return 1

    def _move_chunk(self, off: int, i: int, now: int) -> int:
        store = self.store
        words = store.arena.words
        head = store.chain_head.get(off)      # chain chunks hold value bytes, no header
        if head is not None:
            return self._move_chain_chunk(off, head, now)
        sizes = words[(off >> 3) + SIZES]
        if sizes & ITEM_FREE:                   # on the free list
            self.slabs.cut_free(off)
            self._done(off)
            return 0
        if off in store.refs or not sizes & ITEM_LINKED:
            # being read or received: never copied; wait, and in the end unlink it
            if sizes & ITEM_LINKED and self.busy_loops > SLAB_MOVE_MAX_LOOPS:
                self.busy_deletes += 1
                store.unlink(off)
            return self._busy()
        if self._is_dead(off, now):
            if sizes & ITEM_CHUNKED:            # its chunks go back free; cut on the next pass
                store.unlink(off)
                return self._busy()
            store.detach(off)
            self._done(off)
            return 0
        chunked = bool(sizes & ITEM_CHUNKED)
        size = self.slabs.classes[self.src].chunk_size
        nbytes = size if chunked else (store.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
                                       + (sizes & NBYTES_MASK) + 2)
        new = self._free_chunk_for(off, now)
        if new == NIL:                          # the item itself was the eviction
            return 0 if self.completed[i] else 1
        store.relocate(off, new, nbytes)
        self.rescues += 1
        self._done(off)
        return 0

    def _move_chain_chunk(self, off: int, head: int, now: int) -> int:
        store = self.store
        if head in store.refs or not store.arena.words[(head >> 3) + SIZES] & ITEM_LINKED:
            if self.busy_loops > SLAB_MOVE_MAX_LOOPS \
                    and store.arena.words[(head >> 3) + SIZES] & ITEM_LINKED:
                self.busy_deletes += 1
                store.unlink(head)
            return self._busy()
        if self._is_dead(head, now):
            store.unlink(head)                  # all its chunks go free; cut on the next pass
            return self._busy()
        new = self._free_chunk_for(head, now)
        if new == NIL:
            return self._busy()
        chain = store.chains.get(head)
        if chain is None or off not in chain:   # the victim was this very item
            self.slabs.free(new)
            return self._busy()
        mem = store.arena.mem
        size = self.slabs.classes[self.src].chunk_size
        mem[new:new + size] = mem[off:off + size]
        chain[chain.index(off)] = new
        del store.chain_head[off]
        store.chain_head[new] = head
        self.chunk_rescues += 1
        self._done(off)
        return 0

    def _is_dead(self, off: int, now: int) -> bool:
        exptime = self.store.arena.words[(off >> 3) + TIMES] >> 32
        liveness = self.store.liveness
        return (exptime != 0 and exptime < now) or bool(liveness.oldest_live
                                                        and liveness.is_flushed(off, now))

    def _alloc_outside(self) -> int:
        """slab_rebalance_alloc: a free chunk of the class outside the page; chunks of the
        page met on the way are kept by the mover (`inline_reclaim`)."""
        alloc = self.slabs.alloc_no_new_page
        for _ in range(self.slabs.classes[self.src].perslab):
            new = alloc(self.src)
            if new == NIL or not self._in_page(new):
                return new
            self._done(new)
            self.inline_reclaim += 1
        return NIL

    def _free_chunk_for(self, item: int, now: int) -> int:
        """A chunk to rescue `item` into, evicting from the class's LRU tail when none is
        free; NIL when `item` itself was the one evicted (or nothing could be freed)."""
        new = self._alloc_outside()
        tries = VICTIM_TRIES
        while new == NIL and tries > 0:
            tries -= 1
            victim = self._tail_victim(item)
            if victim == NIL:
                victim = item                   # all pinned: 1.6.18's choice, the item itself
            self.evictions_nomem += 1
            self._evict(victim)
            if victim == item:
                return NIL
            new = self._alloc_outside()
        if new == NIL:
            self.evictions_nomem += 1
            self._evict(item)
        return new

    def _tail_victim(self, item: int) -> int:
        """The first unpinned item from the class's LRU tail, within VICTIM_TRIES."""
        store = self.store
        off, words = store.lru.tails[self.src], store.arena.words
        for _ in range(VICTIM_TRIES):
            if off == NIL:
                break
            if off not in store.refs:
                return off
            off = words[(off >> 3) + PREV]
        return NIL

    def _evict(self, victim: int) -> None:
        store = self.store
        if store.arena.words[(victim >> 3) + SIZES] & ITEM_CHUNKED:
            store.unlink(victim)                # chunks of the page may go free: walk again
            self.busy += 1
        elif self._in_page(victim):
            store.detach(victim)
            self._done(victim)
        else:
            store.unlink(victim)

    # ---- finishing ---------------------------------------------------------------------
    def _finish(self) -> None:
        """slab_rebalance_finish: the page is empty; hand it over."""
        self.slabs.give_page(self.src, self.page, self.dst)
        self.page = NIL
        self.completed = bytearray()
        self.src = self.dst = 0
        self.slabs_moved += 1

    def stats(self) -> list[tuple[str, int]]:
        """memcached's `stats` lines of the mover, in its order."""
        return [("slab_reassign_rescues", self.rescues),
                ("slab_reassign_chunk_rescues", self.chunk_rescues),
                ("slab_reassign_evictions_nomem", self.evictions_nomem),
                ("slab_reassign_inline_reclaim", self.inline_reclaim),
                ("slab_reassign_busy_items", self.busy_items),
                ("slab_reassign_busy_deletes", self.busy_deletes),
                ("slab_reassign_running", 1 if self.running else 0),
                ("slabs_moved", self.slabs_moved)]
