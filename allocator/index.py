"""KeyIndex: key -> item offset, with the keys kept where memcached keeps them, in the items.

A Python dict of `bytes -> int` costs ~140 bytes per item (the key object, the int, the
slot); at 500 000 items that is 70 MB beside a 64 MB arena. This table holds only two int64
arrays (the item's offset and the key's hash) and compares a probed key with the key bytes
in the item's own chunk, so an item costs 16 bytes per slot, ~24-48 bytes at our load
factors. Open addressing with linear probing; deletions leave tombstones, swept by rebuilds.
Lookups are slower than a dict's (a few hundred ns), which the profile says we can afford.
"""

from __future__ import annotations

from array import array

from .item import NKEY_MASK, NKEY_SHIFT, SIZES

EMPTY = -1
TOMBSTONE = -2
MIN_CAPACITY = 1024
MAX_FILL = 0.7          # live + tombstones over slots before a rebuild


class KeyIndex:
    """A dict-like map from key bytes to the offset of the linked item holding that key."""

    def __init__(self, arena_mem, words: memoryview, header_size: int,
                 capacity: int = MIN_CAPACITY):
        self._mem = arena_mem               # the arena's mmap: a slice is bytes, cheap to compare
        self._words = words
        self._hdr = header_size
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        self._mask = capacity - 1
        self._slots = array("q", [EMPTY]) * capacity     # item offset, EMPTY or TOMBSTONE
        self._hashes = array("q", [0]) * capacity        # hash(key) of the slot's item
        self._count = 0                                  # live entries
        self._filled = 0                                 # live entries + tombstones
        self._limit = int(capacity * MAX_FILL)

    def _same_key(self, off: int, key: bytes) -> bool:
        nkey = (self._words[(off >> 3) + SIZES] >> NKEY_SHIFT) & NKEY_MASK
        start = off + self._hdr
        return nkey == len(key) and self._mem[start:start + nkey] == key

    def get(self, key: bytes, default=None):
        h = hash(key)
        mask, slots, hashes = self._mask, self._slots, self._hashes
        i = h & mask
        while True:
            off = slots[i]
            if off == EMPTY:
                return default
            if off >= 0 and hashes[i] == h:             # _same_key, inlined: the get path
                nkey = len(key)
                start = off + self._hdr
                if ((self._words[(off >> 3) + SIZES] >> NKEY_SHIFT) & NKEY_MASK) == nkey \
                        and self._mem[start:start + nkey] == key:
                    return off
            i = (i + 1) & mask

    def swap(self, key: bytes, off: int):
        """Point `key` at `off`; return the offset it pointed at before, or None (one probe)."""
        h = hash(key)
        mask, slots, hashes = self._mask, self._slots, self._hashes
        i = h & mask
        free = -1
        while True:
            cur = slots[i]
            if cur == EMPTY:
                break
            if cur == TOMBSTONE:
                if free < 0:
                    free = i
            elif hashes[i] == h:                        # _same_key, inlined: the set path
                start = cur + self._hdr
                if ((self._words[(cur >> 3) + SIZES] >> NKEY_SHIFT) & NKEY_MASK) == len(key) \
                        and self._mem[start:start + len(key)] == key:
                    slots[i] = off
                    return cur
            i = (i + 1) & mask
        if free >= 0:
            i = free
        else:
            self._filled += 1
        slots[i] = off
        hashes[i] = h
        self._count += 1
        if self._filled > self._limit:
            self._rebuild()
        return None

    def __getitem__(self, key: bytes) -> int:
        off = self.get(key)
        if off is None:
            raise KeyError(key)
        return off

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: bytes, off: int) -> None:
        """Insert or replace; the item at `off` must already hold `key` in its chunk."""
        self.swap(key, off)

    def __delitem__(self, key: bytes) -> None:
        h = hash(key)
        mask, slots, hashes = self._mask, self._slots, self._hashes
        i = h & mask
        while True:
            off = slots[i]
            if off == EMPTY:
                raise KeyError(key)
            if off >= 0 and hashes[i] == h and self._same_key(off, key):
                slots[i] = TOMBSTONE
                self._count -= 1
                return
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._count

    def _rebuild(self) -> None:
        # Grow when mostly live, else just sweep the tombstones; hashes are reused.
        live = [(self._hashes[i], off) for i, off in enumerate(self._slots) if off >= 0]
        capacity = self._mask + 1
        while len(live) > capacity * MAX_FILL / 2:
            capacity *= 2
        self._alloc(capacity)
        mask, slots, hashes = self._mask, self._slots, self._hashes
        for h, off in live:
            i = h & mask
            while slots[i] != EMPTY:
                i = (i + 1) & mask
            slots[i] = off
            hashes[i] = h
        self._count = self._filled = len(live)

    def offsets(self) -> list[int]:
        """Every indexed offset (for checks)."""
        return [off for off in self._slots if off >= 0]
