"""Pins: memcached's item refcounts, and PinSet, the way daemon code holds them.

A chunk is pinned while someone may still read or write it: a receiver filling a reserved
item, a reply whose views of the arena are queued. A pinned chunk is never evicted, freed or
reused. When the last pin of an item that is no longer linked goes, its chunk is freed: the
owner (ItemStore) says how, through `on_last_unpin`.
"""

from __future__ import annotations

from collections.abc import Callable


class Pins:
    """Offset -> pin count for every pinned chunk."""

    __slots__ = ("refs", "_on_last_unpin")

    def __init__(self, on_last_unpin: Callable[[int], None]):
        self.refs: dict[int, int] = {}        # pinned item offset -> pin count
        self._on_last_unpin = on_last_unpin   # called with an offset whose last pin went

    def pin(self, off: int) -> None:
        refs = self.refs
        refs[off] = refs.get(off, 0) + 1

    def unpin(self, off: int) -> None:
        refs = self.refs
        n = refs[off] - 1
        if n:
            refs[off] = n
            return
        del refs[off]
        self._on_last_unpin(off)

    def is_pinned(self, off: int) -> bool:
        return off in self.refs

    def count(self, off: int) -> int:
        return self.refs.get(off, 0)

    def __contains__(self, off: int) -> bool:
        return off in self.refs

    def __len__(self) -> int:
        return len(self.refs)

    def pin_set(self) -> PinSet:
        return PinSet(self)


class PinSet:
    """Pins held together and released together: a connection's queued replies, a batch.

    Use as a context manager, or hold it and call `release_all()` (idempotent) from the
    owner's teardown, so no path can leak a pin.
    """

    __slots__ = ("pins", "held")

    def __init__(self, pins: Pins):
        self.pins = pins
        self.held: list[int] = []

    def add(self, off: int) -> None:
        self.pins.pin(off)
        self.held.append(off)

    def release_all(self) -> None:
        held, self.held = self.held, []
        unpin = self.pins.unpin
        for off in held:
            unpin(off)

    def __len__(self) -> int:
        return len(self.held)

    def __enter__(self) -> PinSet:
        return self

    def __exit__(self, *exc) -> None:
        self.release_all()
