"""SlabAllocator over a small Arena: pages on demand, chunks in page order, free lists, -m."""

import pytest

from allocator import NIL, Arena, SlabAllocator, SlabClassTable
from allocator.item import FREE_FLAG_WORD, SIZES

pytestmark = pytest.mark.unit

MB = 1 << 20


def allocator(limit_pages=2, exact=False):
    table = SlabClassTable()
    arena = Arena(limit_pages * MB, MB, limit_pages + len(table))
    return SlabAllocator(arena, table, exact), table


def test_first_alloc_takes_a_page_and_chunks_follow_in_order():
    slabs, table = allocator()
    size = table[1].chunk_size
    offs = [slabs.alloc(1) for _ in range(3)]
    assert offs == [0, size, 2 * size]
    s = slabs.classes[1]
    assert s.total_pages == 1 and s.used_chunks == 3
    assert s.free_chunks == table[1].chunks_per_page - 3
    assert slabs.class_of(size) == 1 and slabs.arena.malloced == MB


def test_free_list_is_lifo_and_marks_chunks_free():
    slabs, _ = allocator()
    a, b = slabs.alloc(1), slabs.alloc(1)
    slabs.free(a)
    slabs.free(b)
    assert slabs.free_list(1) == [b, a]
    assert slabs.arena.words[(b >> 3) + SIZES] == FREE_FLAG_WORD
    assert slabs.alloc(1) == b and slabs.arena.words[(b >> 3) + SIZES] == 0
    assert slabs.free_list(1) == [a]


def test_the_limit_stops_new_pages_but_every_class_gets_a_first_one():
    slabs, table = allocator(limit_pages=1)
    largest = len(table)
    for _ in range(table[largest].chunks_per_page):
        assert slabs.alloc(largest) != NIL          # the one page -m allows
    assert slabs.alloc(largest) == NIL               # no second page
    assert slabs.alloc(1) != NIL                     # but class 1's first page, past -m
    assert slabs.classes[1].total_pages == 1


def test_exact_page_bytes_count_chunk_size_times_perslab():
    slabs, table = allocator(exact=True)
    slabs.alloc(1)
    assert slabs.arena.malloced == table[1].chunk_size * table[1].chunks_per_page
