"""Hypothesis interleaves sets, deletes, gets, pins, expiry and page moves (any source, any
destination, the pool) with mover steps of random size on a small arena; after every step the
store's invariants hold, with the moving page's rules (free, linked, pinned or done with), and
every value read is the one last stored under its key (or the key is gone: evicted)."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from allocator import NIL, ItemStore, OutOfMemory
from allocator.pagemover import PageMover, Reassign

pytestmark = pytest.mark.unit

KEYS = st.sampled_from([b"k%d" % i for i in range(60)])
# two small classes that fill pages fast, one mid class, and a chunked size
SIZES = st.sampled_from([30_000, 100_000, 100_000, 200_000, 600_000])


class MoverMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = ItemStore(6 << 20, slab_chunk_max=256 * 1024, item_size_max=1 << 20)
        self.mover = PageMover(self.store)
        self.now = 100
        self.version = 0
        self.model: dict[bytes, bytes] = {}
        self.pinned: list[tuple[object, int, bytes]] = []    # (PinSet, offset, value)

    def _value(self, key, size):
        self.version += 1
        head = b"%s:%d:" % (key, self.version)
        return (head * (size // len(head) + 1))[:size]

    @rule(key=KEYS, size=SIZES, ttl=st.sampled_from([0, 0, 0, 3]))
    def set(self, key, size, ttl):
        data = self._value(key, size)
        try:
            off = self.store.reserve(key, 7, self.now + ttl if ttl else 0, size, self.now)
        except OutOfMemory:
            return
        self.store.write_value(off, data)
        self.store.link(off, key)
        self.model[key] = data

    @rule(first=st.integers(0, 50), size=SIZES)
    def fill(self, first, size):
        """Eight sets of one size: classes reach the two pages a move needs."""
        for i in range(first, first + 8):
            self.set(b"k%d" % i, size, 0)

    @rule(key=KEYS)
    def delete(self, key):
        off = self.store.get(key, self.now)
        if off != NIL:
            self.store.unlink(off, key)
        self.model.pop(key, None)

    @rule(key=KEYS)
    def get_and_pin(self, key):
        off = self.store.get(key, self.now)
        if off == NIL:
            self.model.pop(key, None)
            return
        assert self.store.value_bytes(off) == self.model[key]
        pins = self.store.pin_set()
        pins.add(off)
        self.pinned.append((pins, off, self.model[key]))

    @rule(data=st.data())
    def unpin(self, data):
        if self.pinned:
            i = data.draw(st.integers(0, len(self.pinned) - 1))
            pins, off, value = self.pinned.pop(i)
            assert self.store.value_bytes(off) == value     # never copied over while read
            pins.release_all()

    @rule(src=st.integers(-1, 9), dst=st.integers(0, 9))
    def reassign(self, src, dst):
        result = self.mover.reassign(src, dst)
        assert isinstance(result, Reassign)

    @rule(budget=st.integers(1, 40))
    def step(self, budget):
        self.mover.step(self.now, budget)

    @rule()
    def finish(self):
        for _ in range(200):
            if not self.mover.running:
                break
            self.mover.step(self.now, 64)

    @rule()
    def tick(self):
        self.now += 2

    @invariant()
    def consistent(self):
        self.store.check_invariants(self.mover)
        for key in list(self.model):
            off = self.store.get(key, self.now, bump=False)
            if off == NIL:
                del self.model[key]                          # expired or evicted
            else:
                assert self.store.value_bytes(off) == self.model[key]
                assert self.store.flags_of(off) == 7

    def teardown(self):
        for pins, _, _ in self.pinned:
            pins.release_all()


MoverMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50,
                                          deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_page_mover_stateful = MoverMachine.TestCase
