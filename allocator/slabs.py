"""SlabAllocator: pages given to classes on demand, and per-class free lists of chunks.

memcached's `slabs.c` without the threads: a class takes a new page from the arena only when
it has no free chunk; a page is never cut up front (1.4's `end_page_ptr`: chunks are taken
from the newest page in order), and freed chunks go on an intrusive free list threaded
through their NEXT header words. The allocator sees only class ids and byte offsets.
"""

from __future__ import annotations

from .arena import Arena
from .item import FREE_FLAG_WORD, NEXT, NIL, SIZES
from .slabclass import SlabClassTable


class SlabClassState:
    """Runtime state of one class (the moving parts of memcached's `slabclass_t`)."""

    __slots__ = ("chunk_size", "perslab", "page_bytes", "free_head", "free_count", "end_offset",
                 "end_left", "total_pages")

    def __init__(self, chunk_size: int, perslab: int, page_bytes: int = 0):
        self.chunk_size = chunk_size
        self.perslab = perslab
        self.page_bytes = page_bytes  # what one page of this class counts against -m
        self.free_head = NIL        # first chunk of the free list
        self.free_count = 0         # chunks on the free list
        self.end_offset = 0         # next never-used chunk of the newest page
        self.end_left = 0           # never-used chunks left in the newest page
        self.total_pages = 0        # pages owned

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
            s.free_head = words[w + NEXT]
            s.free_count -= 1
            words[w + SIZES] = 0
            return off
        if s.end_left:
            off = s.end_offset
            s.end_offset = off + s.chunk_size
            s.end_left -= 1
            return off
        page = self.arena.take_page(s.page_bytes, over_limit_ok=s.total_pages == 0)
        if page == NIL:
            return NIL
        self.page_class[page >> self.page_shift] = class_id
        s.total_pages += 1
        s.end_offset = page + s.chunk_size
        s.end_left = s.perslab - 1
        return page

    def free(self, offset: int) -> None:
        """Return a chunk to its class's free list."""
        s = self.classes[self.page_class[offset >> self.page_shift]]
        w = offset >> 3
        words = self.arena.words
        words[w + NEXT] = s.free_head
        words[w + SIZES] = FREE_FLAG_WORD
        s.free_head = offset
        s.free_count += 1

    def free_list(self, class_id: int) -> list[int]:
        """The offsets on a class's free list, head first (for checks and tests)."""
        out, off, words = [], self.classes[class_id].free_head, self.arena.words
        while off != NIL and len(out) <= self.classes[class_id].free_count:
            out.append(off)
            off = words[(off >> 3) + NEXT]
        return out
