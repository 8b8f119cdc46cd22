"""LruList: memcached's flat per-class LRU, linked through the items' own header words.

Head = most recently linked or bumped, tail = the eviction end. NEXT points from the head
toward the tail and PREV back, as `it->next`/`it->prev` do in `items.c`. No Python object per
item: a list is two ints per class (head, tail) plus a count.
"""

from __future__ import annotations

from collections.abc import Iterator

from .item import NEXT, NIL, PREV

LAST_CLASS_ID = 63   # memcached's MAX_NUMBER_OF_SLAB_CLASSES - 1: the ids commands may name


class LruList:
    """All classes' LRU lists over one arena's header words.

    There is a list for every class id up to LAST_CLASS_ID, not only the table's: memcached's
    `lru_crawler crawl 50` crawls class 50's (empty) lists when the table ends at 39, and so
    does ours, without a special case.
    """

    def __init__(self, words: memoryview, nclasses: int):
        self.words = words
        n = max(nclasses, LAST_CLASS_ID) + 1
        self.heads = [NIL] * n
        self.tails = [NIL] * n
        self.sizes = [0] * n
        # The LRU crawler's place in each list (crawler.py): the next item it visits, walking
        # tail to head; NIL when no crawl runs there. memcached links a pseudo-item into the
        # list for this; here unlink() and replace() keep the offset valid instead.
        self.cursors = [NIL] * n

    def push_head(self, cid: int, off: int) -> None:
        words = self.words
        w = off >> 3
        head = self.heads[cid]
        words[w + PREV] = NIL
        words[w + NEXT] = head
        if head != NIL:
            words[(head >> 3) + PREV] = off
        else:
            self.tails[cid] = off
        self.heads[cid] = off
        self.sizes[cid] += 1

    def unlink(self, cid: int, off: int) -> None:
        words = self.words
        w = off >> 3
        nxt = words[w + NEXT]
        prv = words[w + PREV]
        if off == self.cursors[cid]:
            self.cursors[cid] = prv         # the crawler goes on with the next toward the head
        if prv != NIL:
            words[(prv >> 3) + NEXT] = nxt
        else:
            self.heads[cid] = nxt
        if nxt != NIL:
            words[(nxt >> 3) + PREV] = prv
        else:
            self.tails[cid] = prv
        words[w + NEXT] = NIL
        words[w + PREV] = NIL
        self.sizes[cid] -= 1

    def replace(self, cid: int, old: int, new: int) -> None:
        """Put `new` where `old` is in the list; `new`'s NEXT/PREV already hold `old`'s (the
        page mover copied the header), so only the neighbours and the ends are repointed."""
        words = self.words
        w = new >> 3
        nxt, prv = words[w + NEXT], words[w + PREV]
        if prv != NIL:
            words[(prv >> 3) + NEXT] = new
        else:
            self.heads[cid] = new
        if nxt != NIL:
            words[(nxt >> 3) + PREV] = new
        else:
            self.tails[cid] = new
        if old == self.cursors[cid]:
            self.cursors[cid] = new
        ow = old >> 3
        words[ow + NEXT] = NIL
        words[ow + PREV] = NIL

    def bump(self, cid: int, off: int) -> None:
        """Move an item to the head."""
        if self.heads[cid] != off:
            self.unlink(cid, off)
            self.push_head(cid, off)

    def iter_from_tail(self, cid: int, limit: int | None = None) -> Iterator[int]:
        """Offsets from the tail toward the head, at most `limit` of them."""
        off, n, words = self.tails[cid], 0, self.words
        while off != NIL and (limit is None or n < limit):
            prv = words[(off >> 3) + PREV]
            yield off
            off, n = prv, n + 1

    def iter_from_head(self, cid: int) -> Iterator[int]:
        off, words = self.heads[cid], self.words
        while off != NIL:
            nxt = words[(off >> 3) + NEXT]
            yield off
            off = nxt

    def check(self, cid: int) -> list[int]:
        """Walk head to tail checking both directions; the offsets, head first."""
        seen, prev, off, words = [], NIL, self.heads[cid], self.words
        while off != NIL:
            assert words[(off >> 3) + PREV] == prev, f"class {cid}: broken PREV at {off}"
            seen.append(off)
            assert len(seen) <= self.sizes[cid], f"class {cid}: LRU longer than its count"
            prev, off = off, words[(off >> 3) + NEXT]
        assert self.tails[cid] == prev, f"class {cid}: tail {self.tails[cid]} != last {prev}"
        assert len(seen) == self.sizes[cid], f"class {cid}: count {self.sizes[cid]} != {len(seen)}"
        return seen
