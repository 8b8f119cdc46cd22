"""KeyIndex against a dict: inserts, replaces, deletes (backward shifts) and growth."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator import ItemStore

pytestmark = pytest.mark.unit

KEYS = st.binary(min_size=1, max_size=12)


def item_with_key(store, key):
    """Reserve a chunk that holds `key` (the index compares keys in the arena)."""
    return store.reserve(key, 0, 0, 1, 100)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["set", "del", "get"]), KEYS), max_size=400))
def test_index_behaves_like_a_dict(ops):
    store = ItemStore(16 << 20)
    index = store.index
    model: dict[bytes, int] = {}
    for op, key in ops:
        if op == "set":
            off = item_with_key(store, key)
            assert index.swap(key, off) == model.get(key)
            model[key] = off
        elif op == "del":
            if key in model:
                del index[key]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del index[key]
        assert index.get(key) == model.get(key)
        assert len(index) == len(model)
    assert sorted(index.offsets()) == sorted(model.values())


def test_growth_and_deletes_keep_every_key():
    store = ItemStore(64 << 20)
    index = store.index
    offs = {}
    for i in range(5000):                     # several doublings
        key = b"k%d" % i
        offs[key] = item_with_key(store, key)
        index[key] = offs[key]
    for i in range(0, 5000, 2):               # half go, shifting their clusters back
        del index[b"k%d" % i]
    for i in range(5000, 6000):               # inserts land in the freed slots
        key = b"k%d" % i
        offs[key] = item_with_key(store, key)
        index[key] = offs[key]
    for key, off in offs.items():
        i = int(key[1:])
        expected = None if (i < 5000 and i % 2 == 0) else off
        assert index.get(key) == expected
    assert len(index) == 2500 + 1000


def test_prefix_keys_do_not_match():
    store = ItemStore(4 << 20)
    off = item_with_key(store, b"abc")
    store.index[b"abc"] = off
    assert store.index.get(b"ab") is None and store.index.get(b"abcd") is None


@pytest.mark.parametrize("seed", range(6))
def test_deletes_in_crowded_clusters_keep_every_probe_chain(seed):
    """At ~0.68 load linear probing makes long clusters that wrap around the table's end;
    deleting from anywhere inside them must leave every other key findable."""
    import random
    rng = random.Random(seed)
    store = ItemStore(16 << 20)
    index = store.index
    capacity = index._mask + 1
    model = {}
    for i in range(int(capacity * 0.68)):
        key = b"c%d" % rng.getrandbits(40)
        model[key] = item_with_key(store, key)
        index[key] = model[key]
    assert index._mask + 1 == capacity              # no growth: the clusters stay crowded
    for _ in range(3):
        for key in rng.sample(sorted(model), len(model) // 3):
            del index[key]
            del model[key]
        for key, off in model.items():
            assert index.get(key) == off
        for i in range(len(model) // 3):
            key = b"c%d" % rng.getrandbits(40)
            model[key] = item_with_key(store, key)
            index[key] = model[key]
    assert sorted(index.offsets()) == sorted(model.values())
    assert len(index) == len(model)
