"""LruList on a bare word array: links, counts, bumps and walks of memcached's flat LRU."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator import NIL, LruList

pytestmark = pytest.mark.unit

CHUNK = 64                      # bytes between two fake items (8 header words each)


def lists(n_items=32, nclasses=2):
    words = memoryview(bytearray(n_items * CHUNK)).cast("q")
    return LruList(words, nclasses)


def test_push_head_orders_newest_first():
    lru = lists()
    for i in range(4):
        lru.push_head(1, i * CHUNK)
    assert list(lru.iter_from_head(1)) == [3 * CHUNK, 2 * CHUNK, CHUNK, 0]
    assert list(lru.iter_from_tail(1, limit=2)) == [0, CHUNK]
    assert lru.sizes[1] == 4 and lru.tails[1] == 0 and lru.heads[1] == 3 * CHUNK
    assert lru.check(1) == list(lru.iter_from_head(1))


def test_unlink_head_middle_tail_and_last():
    lru = lists()
    for i in range(3):
        lru.push_head(1, i * CHUNK)
    lru.unlink(1, CHUNK)                        # middle
    assert lru.check(1) == [2 * CHUNK, 0]
    lru.unlink(1, 2 * CHUNK)                    # head
    lru.unlink(1, 0)                            # tail, and the last one
    assert lru.check(1) == [] and lru.heads[1] == lru.tails[1] == NIL


def test_bump_moves_to_head_and_classes_are_separate():
    lru = lists()
    for i in range(3):
        lru.push_head(1, i * CHUNK)
    lru.push_head(2, 10 * CHUNK)
    lru.bump(1, 0)
    assert lru.check(1) == [0, 2 * CHUNK, CHUNK]
    lru.bump(1, 0)                              # already the head: nothing moves
    assert lru.check(1) == [0, 2 * CHUNK, CHUNK] and lru.check(2) == [10 * CHUNK]


@given(st.lists(st.tuples(st.sampled_from(["push", "unlink", "bump"]), st.integers(0, 15))))
def test_random_operations_match_a_python_list(ops):
    lru, model = lists(16, 1), []
    for op, i in ops:
        off = i * CHUNK
        if op == "push" and off not in model:
            lru.push_head(1, off)
            model.insert(0, off)
        elif op == "unlink" and off in model:
            lru.unlink(1, off)
            model.remove(off)
        elif op == "bump" and off in model:
            lru.bump(1, off)
            model.remove(off)
            model.insert(0, off)
        assert lru.check(1) == model
