"""The class table equals memcached 1.6.18's (spec/slabs.md §2) and items land where it puts them."""

import shutil
import subprocess

import pytest

from allocator.slabclass import SlabClassTable, item_ntotal

pytestmark = pytest.mark.unit

# (id, chunk_size, chunks_per_page) of memcached 1.6.18 with default settings (stats slabs).
DEFAULT_TABLE = [
    (1, 96, 10922), (2, 120, 8738), (3, 152, 6898), (4, 192, 5461), (5, 240, 4369),
    (6, 304, 3449), (7, 384, 2730), (8, 480, 2184), (9, 600, 1747), (10, 752, 1394),
    (11, 944, 1110), (12, 1184, 885), (13, 1480, 708), (14, 1856, 564), (15, 2320, 451),
    (16, 2904, 361), (17, 3632, 288), (18, 4544, 230), (19, 5680, 184), (20, 7104, 147),
    (21, 8880, 118), (22, 11104, 94), (23, 13880, 75), (24, 17352, 60), (25, 21696, 48),
    (26, 27120, 38), (27, 33904, 30), (28, 42384, 24), (29, 52984, 19), (30, 66232, 15),
    (31, 82792, 12), (32, 103496, 10), (33, 129376, 8), (34, 161720, 6), (35, 202152, 5),
    (36, 252696, 4), (37, 315872, 3), (38, 394840, 2), (39, 524288, 2),
]


def rows(table):
    return [(c.id, c.chunk_size, c.chunks_per_page) for c in table]


def test_default_table_is_memcacheds():
    assert rows(SlabClassTable()) == DEFAULT_TABLE


def test_no_modern_table_goes_to_one_megabyte():
    table = SlabClassTable(slab_chunk_max=1 << 20)
    assert rows(table)[:38] == DEFAULT_TABLE[:38]
    assert [c.chunk_size for c in table][38:] == [493552, 616944, 771184, 1048576]


def test_small_factor_hits_the_63_class_cap():
    assert len(SlabClassTable(chunk_size=5, factor=1.07)) == 63


def test_slab_chunk_max_16k_stops_at_class_23():
    table = SlabClassTable(slab_chunk_max=16384)
    assert table.largest.id == 23 and table.largest.chunk_size == 16384


@pytest.mark.parametrize("key,flags,datalen,ntotal,cls", [
    (b"foo", 0, 34, 96, 1), (b"fop", 0, 35, 97, 2), (b"foq", 1, 30, 96, 1), (b"x", 0, 0, 60, 1),
    (b"k" * 250, 0, 0, 309, 7)])
def test_ntotal_and_class_match_spec_examples(key, flags, datalen, ntotal, cls):
    assert item_ntotal(len(key), datalen, flags) == ntotal
    assert SlabClassTable().class_for(ntotal) == cls


def test_ntotal_without_cas():
    assert item_ntotal(1, 1, 0, cas_enabled=False) == 53


def test_class_for_past_the_largest_is_zero():
    assert SlabClassTable().class_for(524289) == 0


@pytest.mark.differential
@pytest.mark.skipif(shutil.which("memcached") is None, reason="memcached binary not installed")
@pytest.mark.parametrize("args,kw", [
    ([], {}), (["-f", "2", "-n", "100"], dict(chunk_size=100, factor=2.0)),
    (["-f", "1.07", "-n", "5"], dict(chunk_size=5, factor=1.07)),
    (["-o", "slab_chunk_max=16384"], dict(slab_chunk_max=16384)),
    (["-o", "no_modern"], dict(slab_chunk_max=1 << 20)),
    (["-f", "1.5", "-n", "64", "-I", "4m"], dict(chunk_size=64, factor=1.5))])
def test_table_matches_memcached_vv(args, kw):
    """Start memcached -vv on port 0 and read the class table it prints."""
    proc = subprocess.Popen([shutil.which("memcached"), "-u", "root", "-U", "0", "-p", "0",
                             "-l", "127.0.0.1", "-vv", *args],
                            stderr=subprocess.PIPE, text=True)
    lines = []
    expected = len(SlabClassTable(**kw))   # read exactly as many class lines as we expect
    try:
        for line in proc.stderr:
            if line.startswith("slab class"):
                lines.append(line)
                if len(lines) == expected:
                    break
    finally:
        proc.kill()
        proc.wait()
    theirs = [tuple(int(x) for x in (l.split()[2].rstrip(":"), l.split()[5], l.split()[7]))
              for l in lines]
    assert rows(SlabClassTable(**kw)) == theirs
