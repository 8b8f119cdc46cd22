"""Slab classes: which chunk size an item of a given size lands in.

memcached 1.6.18 `slabs_init` reproduced exactly (spec/slabs.md §2): the first class is
`sizeof(item)` (48) + `-n`, each next one grows by `-f` and is aligned to 8 bytes, at most 63
classes, and the last class is `slab_chunk_max`. The table is pure arithmetic: no memory here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

ITEM_HEADER_SIZE = 48          # sizeof(item) on 64-bit memcached: pointers, times, sizes, flags
CAS_SIZE = 8                   # the CAS id that follows the header unless -C
CHUNK_ALIGN_BYTES = 8          # memcached's CHUNK_ALIGN_BYTES
MAX_NUMBER_OF_SLAB_CLASSES = 64  # ids 1..63; id 0 is memcached's global page pool
PAGE_SIZE = 1024 * 1024        # slab_page_size: 1 MB pages (fixed in 1.6)
DEFAULT_SLAB_CHUNK_MAX = PAGE_SIZE // 2


@dataclass(frozen=True, slots=True)
class SlabClass:
    """One row of memcached's class table (`slabclass_t` minus the runtime state)."""

    id: int                # 1-based class id, as `stats slabs` prints it
    chunk_size: int        # bytes per chunk
    chunks_per_page: int   # chunks cut from one page ("perslab")


def item_ntotal(nkey: int, nbytes: int, client_flags: int, cas_enabled: bool = True) -> int:
    """memcached's `ntotal`: the accounting size that picks the class (spec/slabs.md §1).

    `nbytes` is the value length without the trailing CRLF.
    """
    return (ITEM_HEADER_SIZE + (CAS_SIZE if cas_enabled else 0) + nkey + 1
            + (4 if client_flags else 0) + nbytes + 2)


def _align(size: int) -> int:
    rem = size % CHUNK_ALIGN_BYTES
    return size + CHUNK_ALIGN_BYTES - rem if rem else size


class SlabClassTable:
    """The class table for one set of `-n`, `-f` and `slab_chunk_max` settings."""

    def __init__(self, chunk_size: int = 48, factor: float = 1.25,
                 slab_chunk_max: int = DEFAULT_SLAB_CHUNK_MAX, page_size: int = PAGE_SIZE):
        if factor <= 1.0:
            raise ValueError("factor must be greater than 1")
        self.page_size = page_size
        self.slab_chunk_max = slab_chunk_max
        self.classes: list[SlabClass] = _build(chunk_size, factor, slab_chunk_max, page_size)
        self._sizes = [c.chunk_size for c in self.classes]

    def __iter__(self):
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, class_id: int) -> SlabClass:
        """Class by memcached id (1-based)."""
        return self.classes[class_id - 1]

    @property
    def largest(self) -> SlabClass:
        return self.classes[-1]

    def class_for(self, size: int) -> int:
        """`slabs_clsid`: the smallest class whose chunk holds `size` bytes, 0 if none does."""
        if size <= 0:
            return 0
        i = bisect.bisect_left(self._sizes, size)
        return i + 1 if i < len(self._sizes) else 0


def _build(chunk_size: int, factor: float, slab_chunk_max: int, page_size: int) -> list[SlabClass]:
    # Mirrors slabs_init() of memcached 1.6.18 line for line (spec/slabs.md §2).
    classes: list[SlabClass] = []
    size = ITEM_HEADER_SIZE + chunk_size
    i = 0
    while True:
        i += 1
        if i >= MAX_NUMBER_OF_SLAB_CLASSES - 1:
            break
        if size >= slab_chunk_max / factor:
            break
        size = _align(size)
        classes.append(SlabClass(i, size, page_size // size))
        size = int(size * factor)
    classes.append(SlabClass(i, slab_chunk_max, page_size // slab_chunk_max))
    return classes
