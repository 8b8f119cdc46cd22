"""SlabAllocator: pages given to classes on demand, and per-class free lists of chunks.

memcached's `slabs.c` without the threads: a class takes a new page from the arena only when
it has no free chunk; a page is never cut up front (1.4's `end_page_ptr`: chunks are taken
from the newest page in order), and freed chunks go on an intrusive free list threaded
through their NEXT header words. The allocator sees only class ids and byte offsets.
"""

from __future__ import annotations

from .arena import Arena
from .item import FREE_FLAG_WORD, NEXT, NIL, PREV, SIZES
from .slabclass import SlabClassTable


class SlabClassState:
    """Runtime state of one class (the moving parts of memcached's `slabclass_t`)."""

    __slots__ = ("chunk_size", "perslab", "page_bytes", "free_head", "free_count", "end_offset",
                 "end_left", "pages")

    def __init__(self, chunk_size: int, perslab: int, page_bytes: int = 0):
        self.chunk_size = chunk_size
        self.perslab = perslab
        self.page_bytes = page_bytes  # what one page of this class counts against -m
        self.free_head = NIL        # first chunk of the free list
        self.free_count = 0         # chunks on the free list
        self.end_offset = 0         # next never-used chunk of the newest page
        self.end_left = 0           # never-used chunks left in the newest page
        self.pages: list[int] = []  # offsets of the pages owned, oldest first (slab_list)

    @property
    def total_pages(self) -> int:
        return len(self.pages)

    @property
    def total_chunks(self) -> int:
        return self.total_pages * self.perslab

    @property
    def free_chunks(self) -> int:
        return self.free_count + self.end_left

    @property
    def used_chunks(self) -> int:
        return self.total_chunks - self.free_chunks


class SlabAllocator:
    """Chunks of the arena by class id; `alloc` and `free` are O(1)."""

    def __init__(self, arena: Arena, table: SlabClassTable, exact_page_bytes: bool = False):
        self.arena = arena
        self.table = table
        self.page_shift = arena.page_size.bit_length() - 1
        # index 0 unused so that class ids index directly, as in memcached. Without slab
        # reassignment (-o no_modern) memcached mallocs chunk_size x perslab per page.
        self.classes = [SlabClassState(0, 0)] + [
            SlabClassState(c.chunk_size, c.chunks_per_page,
                           c.chunk_size * c.chunks_per_page if exact_page_bytes
                           else arena.page_size) for c in table]
        self.page_class = [0] * arena.capacity_pages   # page number -> owning class id
        self.pool: list[int] = []       # class 0: the global page pool, whole unowned pages

    def class_of(self, offset: int) -> int:
        """The class that owns the chunk at `offset`."""
        return self.page_class[offset >> self.page_shift]

    def alloc(self, class_id: int) -> int:
        """A free chunk of the class, or NIL when the class is full and no page can be had."""
        s = self.classes[class_id]
        off = s.free_head
        words = self.arena.words
        if off != NIL:
            w = off >> 3
            nxt = s.free_head = words[w + NEXT]
            if nxt != NIL:
                words[(nxt >> 3) + PREV] = NIL
            s.free_count -= 1
            words[w + SIZES] = 0
            return off
        if s.end_left:
            off = s.end_offset
            s.end_offset = off + s.chunk_size
            s.end_left -= 1
            return off
        if self.pool:                   # do_slabs_newslab: the global pool first, past -m too
            page = self.pool.pop()
        else:
            page = self.arena.take_page(s.page_bytes, over_limit_ok=not s.pages)
            if page == NIL:
                return NIL
        self.page_class[page >> self.page_shift] = class_id
        s.pages.append(page)
        s.end_offset = page + s.chunk_size
        s.end_left = s.perslab - 1
        return page

    def free(self, offset: int) -> None:
        """Return a chunk to its class's free list."""
        s = self.classes[self.page_class[offset >> self.page_shift]]
        w = offset >> 3
        words = self.arena.words
        head = words[w + NEXT] = s.free_head
        if head != NIL:
            words[(head >> 3) + PREV] = offset
        words[w + PREV] = NIL
        words[w + SIZES] = FREE_FLAG_WORD
        s.free_head = offset
        s.free_count += 1

    # ---- the page mover's primitives (pagemover.py) ------------------------------------
    def page_of(self, offset: int) -> int:
        """The offset of the page holding `offset`."""
        return (offset >> self.page_shift) << self.page_shift

    def cut_free(self, offset: int) -> None:
        """Take one chunk off its class's free list (memcached's slab_rebalance_cut_free)."""
        s = self.classes[self.page_class[offset >> self.page_shift]]
        words = self.arena.words
        w = offset >> 3
        nxt, prv = words[w + NEXT], words[w + PREV]
        if prv != NIL:
            words[(prv >> 3) + NEXT] = nxt
        else:
            s.free_head = nxt
        if nxt != NIL:
            words[(nxt >> 3) + PREV] = prv
        s.free_count -= 1

    def alloc_no_new_page(self, class_id: int) -> int:
        """A free chunk of the class without taking a page (SLABS_ALLOC_NO_NEWPAGE), or NIL."""
        s = self.classes[class_id]
        if s.free_head == NIL and not s.end_left:
            return NIL
        return self.alloc(class_id)

    def drop_uncut(self, page: int) -> int:
        """Forget the never-used chunks of `page` if it is its class's cutting page; how many."""
        s = self.classes[self.page_class[page >> self.page_shift]]
        if s.end_left and page <= s.end_offset < page + self.arena.page_size:
            n, s.end_left = s.end_left, 0
            return n
        return 0

    def give_page(self, src: int, page: int, dst: int) -> None:
        """Move an emptied page from class `src` to class `dst` (cut into its free list) or,
        with `dst` 0, to the global pool (slab_rebalance_finish)."""
        (self.pool if src == 0 else self.classes[src].pages).remove(page)
        self.page_class[page >> self.page_shift] = dst
        if dst == 0:
            self.pool.append(page)
            return
        d = self.classes[dst]
        d.pages.append(page)
        size = d.chunk_size
        for off in range(page + (d.perslab - 1) * size, page - 1, -size):
            self.free(off)

    def free_list(self, class_id: int) -> list[int]:
        """The offsets on a class's free list, head first (for checks and tests)."""
        out, off, words = [], self.classes[class_id].free_head, self.arena.words
        while off != NIL and len(out) <= self.classes[class_id].free_count:
            out.append(off)
            off = words[(off >> 3) + NEXT]
        return out
