"""Arena: the one numpy buffer that holds every item, cut into pages.

memcached mallocs 1 MB pages on demand up to `-m`, and lets every slab class have its first
page even past the limit (spec/slabs.md §3). We reserve all of that once, as ONE numpy array of
`limit + one page per class`, over an anonymous mmap: the kernel backs it lazily, so the
process's RSS grows only with the pages actually handed out, as memcached's does. The mmap
object is kept as `mem` too: slicing it is the cheapest way Python has to copy arena bytes
out (a key to compare, a value into a reply), about half the cost of a memoryview slice.
"""

from __future__ import annotations

import mmap
import os

import numpy as np


class Arena:
    """A bump allocator of pages over one preallocated numpy `uint8` array."""

    def __init__(self, limit_bytes: int, page_size: int, capacity_pages: int,
                 path: str | None = None, wipe: bool = True, private: bool = False):
        self.page_size = page_size
        self.limit_bytes = limit_bytes                            # -m
        self.capacity_pages = capacity_pages                      # -m plus first-page headroom
        self.path = path                                          # -e: the memory file
        size = capacity_pages * page_size
        if path is None:
            self.mem = mmap.mmap(-1, size)                        # bytes out: mem[a:b]
        elif private:                         # copy-on-write: reads the file, never writes it
            fd = os.open(path, os.O_RDONLY)
            try:
                self.mem = mmap.mmap(fd, size, mmap.MAP_PRIVATE,
                                     mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if wipe:
                    os.ftruncate(fd, 0)       # sparse zeros again: no page of an old run left
                os.ftruncate(fd, size)
                self.mem = mmap.mmap(fd, size, mmap.MAP_SHARED)
            finally:
                os.close(fd)
        self.buffer = np.frombuffer(self.mem, dtype=np.uint8)    # the numpy arena
        self.bytes = memoryview(self.buffer)                     # byte views: values in/out
        self.words = self.bytes.cast("q")                        # int64 view: item headers
        self.pages_used = 0                                       # pages handed out so far
        self.malloced = 0                                         # memcached's total_malloced

    def take_page(self, page_bytes: int, over_limit_ok: bool) -> int:
        """Hand out the next page's byte offset, or -1 when the arena may not grow.

        `page_bytes` is what memcached counts for the page against `-m` (the whole page, or
        chunk size x chunks per page without slab reassignment); `over_limit_ok` is its
        exception for a class that owns no page yet.
        """
        if self.pages_used >= self.capacity_pages:
            return -1
        if self.malloced + page_bytes > self.limit_bytes and not over_limit_ok:
            return -1
        offset = self.pages_used * self.page_size
        self.pages_used += 1
        self.malloced += page_bytes
        return offset

    def flush(self) -> None:
        """msync the memory file (memcached's restart_mmap_close); nothing without one."""
        if self.path is not None:
            self.mem.flush()

