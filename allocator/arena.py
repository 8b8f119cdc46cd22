"""Arena: the one numpy buffer that holds every item, cut into pages.

memcached mallocs 1 MB pages on demand up to `-m`, and lets every slab class have its first
page even past the limit (spec/slabs.md §3). We reserve all of that once, as ONE numpy array of
`limit + one page per class`; numpy's zeroed allocation is backed lazily by the kernel, so
the process's RSS grows only with the pages actually handed out, as memcached's does.
"""

from __future__ import annotations

import numpy as np


class Arena:
    """A bump allocator of pages over one preallocated numpy `uint8` array."""

    def __init__(self, limit_bytes: int, page_size: int, extra_pages: int = 0):
        self.page_size = page_size
        self.limit_pages = max(limit_bytes // page_size, 0)   # pages within -m
        self.capacity_pages = self.limit_pages + extra_pages    # -m plus first-page headroom
        self.buffer = np.zeros(self.capacity_pages * page_size, dtype=np.uint8)
        self.bytes = memoryview(self.buffer)                     # byte view: keys and values
        self.words = self.bytes.cast("q")                        # int64 view: item headers
        self.pages_used = 0                                       # pages handed out so far

    @property
    def malloced(self) -> int:
        """memcached's `total_malloced`: bytes of pages handed to classes."""
        return self.pages_used * self.page_size

    def take_page(self, over_limit_ok: bool) -> int:
        """Hand out the next page's byte offset, or -1 when the arena may not grow.

        `over_limit_ok` is memcached's exception for a class that owns no page yet.
        """
        if self.pages_used >= self.capacity_pages:
            return -1
        if self.pages_used >= self.limit_pages and not over_limit_ok:
            return -1
        offset = self.pages_used * self.page_size
        self.pages_used += 1
        return offset
