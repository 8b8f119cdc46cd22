"""Hypothesis drives reserve/link/get/delete/pin/unpin/expire/flush/evict on a 2-page arena
against a plain dict model; `check_invariants()` runs after every step."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from allocator import NIL, ItemStore, OutOfMemory

pytestmark = pytest.mark.unit

KEYS = st.sampled_from([b"k%d" % i for i in range(40)])
# sizes that land in a few classes, plus one chunked item size
SIZES = st.sampled_from([0, 10, 40, 200, 3000, 60_000, 300_000, 600_000])


class StoreMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = ItemStore(2 << 20, item_size_max=1 << 20)
        self.now = 100
        self.model: dict[bytes, tuple[bytes, int]] = {}   # key -> (value, exptime)
        self.pins: list[tuple[int, bytes]] = []            # (offset, value it must still hold)
        self.pinset = self.store.pin_set()

    def _value(self, key, size):
        return (key * (size // len(key) + 1))[:size]

    def _alive(self, key):
        value, exp = self.model[key]
        return exp == 0 or exp > self.now

    @rule(key=KEYS, size=SIZES, ttl=st.sampled_from([0, 0, 5, 50]))
    def set(self, key, size, ttl):
        data = self._value(key, size)
        exptime = self.now + ttl if ttl else 0
        try:
            off = self.store.reserve(key, 0, exptime, size, self.now)
        except OutOfMemory:
            return          # legitimately full: every candidate pinned or -M
        pos, payload = 0, data + b"\r\n"
        for view in self.store.value_views(off):
            view[:] = payload[pos:pos + len(view)]
            pos += len(view)
        self.store.link(off, key)
        self.model[key] = (data, exptime)

    @rule(key=KEYS)
    def get(self, key):
        off = self.store.get(key, self.now)
        if off == NIL:
            # absent, expired, flushed or evicted: the model may only say it was not alive
            # or that memory pressure took it
            self.model.pop(key, None)
            return
        assert key in self.model and self._alive(key)
        assert self.store.value_bytes(off) == self.model[key][0]

    @rule(keys=st.lists(KEYS, min_size=2, max_size=8))
    def get_many(self, keys):
        """A multi-get (repeated keys included) reads as the same gets one by one would."""
        dead_before = self.store.get_expired + self.store.get_flushed
        found = self.store.get_many(keys, self.now)
        assert len(found) == len(keys)
        # an item found dead is counted once, however often its key repeats
        assert self.store.get_expired + self.store.get_flushed - dead_before <= len(set(keys))
        for key, off in zip(keys, found):
            if off == NIL:
                self.model.pop(key, None)
                continue
            assert key in self.model and self._alive(key)
            assert self.store.value_bytes(off) == self.model[key][0]
        counters = (self.store.get_expired, self.store.get_flushed)
        again = [self.store.get(key, self.now) for key in keys]
        assert again == found
        assert (self.store.get_expired, self.store.get_flushed) == counters

    @rule(key=KEYS)
    def delete(self, key):
        off = self.store.get(key, self.now, bump=False)
        if off != NIL:
            self.store.unlink(off, key)
        self.model.pop(key, None)

    @rule(key=KEYS)
    def pin(self, key):
        off = self.store.get(key, self.now)
        if off != NIL:
            self.pinset.add(off)
            self.pins.append((off, self.store.value_bytes(off)))

    @precondition(lambda self: self.pins)
    @rule()
    def unpin_all(self):
        # a pinned item's bytes never change, whatever happened to its key meanwhile
        for off, data in self.pins:
            assert self.store.value_bytes(off) == data
        self.pinset.release_all()
        self.pins.clear()

    @rule(seconds=st.sampled_from([1, 10, 61]))
    def advance(self, seconds):
        self.now += seconds

    @rule()
    def flush_now(self):
        self.store.flush(self.now - 1, immediate=True)
        self.model.clear()

    @invariant()
    def consistent(self):
        self.store.check_invariants()
        for off, data in self.pins:
            assert self.store.value_bytes(off) == data


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)
