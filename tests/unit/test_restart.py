"""Warm restart without sockets: save/restore round trips over a memory file, every refusal
rule, the checker, and damaged files (bytes flipped, files cut) that must never serve a value
that was not stored."""

from __future__ import annotations

import dataclasses
import io
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from allocator import NIL
from allocator.persist import PersistError, restore, snapshot
from memcache_py import check, restart
from memcache_py.clock import FakeClock
from memcache_py.settings import Settings, SettingsError, parse_settings, settings_stats

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100


def put(store, key, value=b"v", now=NOW, exptime=0, flags=0):
    off = store.reserve(key, flags, exptime, len(value), now)
    store.write_value(off, value)
    return store.link(off, key)


def conf(tmp_path, **kw) -> Settings:
    return Settings(memory_limit=kw.pop("m", 8 * MB), memory_file=str(tmp_path / "mem"), **kw)


def stop(settings, store, clock=None, stop_time=None):
    """What a graceful stop writes, with a stop time safely in the past."""
    store.arena.flush()
    with open(restart.meta_path(settings.memory_file), "wb") as f:
        f.write(restart.render(settings, clock or FakeClock(), store,
                               int(time.time()) - 5 if stop_time is None else stop_time))


def start(settings, clock=None):
    """A start: (store, report or None, the log lines)."""
    clock = clock or FakeClock()
    lines = []
    orig = restart.log
    restart.log = lines.append
    try:
        store, report = restart.open_store(settings, clock)
    finally:
        restart.log = orig
    return store, report, lines


def fill(store, n, size=lambda i: i % 300, flags=lambda i: i % 3):
    expect = {}
    for i in range(n):
        k, v = b"key%d" % i, bytes([97 + i % 26]) * size(i)
        cas = put(store, k, v, flags=flags(i))
        expect[k] = (v, flags(i), cas)
    return expect


def live(store):
    """Every restorable item: key -> (value, flags, cas), by walking the LRUs."""
    out = {}
    for cid in range(1, len(store.slabs.classes)):
        for off in store.items_of_class(cid):
            out[store.key_of(off)] = (store.value_bytes(off), store.flags_of(off),
                                      store.cas_of(off))
    return out


# ---- round trips ------------------------------------------------------------------------

def test_round_trip_keeps_items_lru_order_cas_and_counters(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 3000)
    store.unlink(store.index.get(b"key5"))
    put(store, b"exp", b"x", exptime=500)
    store.flush(50, immediate=False)
    before = live(store)
    order = {c: store.items_of_class(c) for c in range(1, len(store.slabs.classes))}
    counts = (store.curr_items, store.bytes, list(store.mem_requested), store.cas_id)
    stop(s, store)
    back, report, lines = start(s)
    assert report is not None and report.dropped == 0 and lines == []
    assert live(back) == before
    assert {c: back.items_of_class(c) for c in order} == order
    assert (back.curr_items, back.bytes, list(back.mem_requested)) == counts[:3]
    assert back.times_of(back.index.get(b"exp")) == (NOW, 500)
    assert back.liveness.oldest_live == 50
    back.check_invariants()
    # the CAS sequence continues, skipping the one id memcached's save takes
    assert back.cas_id == counts[3] + 1 and put(back, b"new", b"n") == counts[3] + 2
    assert not os.path.exists(restart.meta_path(s.memory_file))   # consumed


def test_free_lists_and_pages_come_back(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 2000)
    for i in range(0, 2000, 3):
        store.unlink(store.index.get(b"key%d" % i))
    pages = [c.total_pages for c in store.slabs.classes]
    free = [c.free_chunks for c in store.slabs.classes]
    used = store.arena.pages_used, store.arena.malloced
    stop(s, store)
    back, report, _ = start(s)
    assert [c.total_pages for c in back.slabs.classes] == pages
    assert [c.free_chunks for c in back.slabs.classes] == free
    assert (back.arena.pages_used, back.arena.malloced) == used
    back.check_invariants()
    fill(back, 500)                       # allocation from the rebuilt free lists works
    back.check_invariants()


def test_chunked_items_round_trip(tmp_path):
    s = conf(tmp_path, m=16 * MB, item_size_max=2 * MB)
    store = restart.make_store(s)
    big = {b"big%d" % i: os.urandom(600_000 + i * 100_000) for i in range(5)}
    for k, v in big.items():
        put(store, k, v, flags=7)
    store.unlink(store.index.get(b"big2"))
    fill(store, 100)
    stop(s, store)
    back, report, _ = start(s)
    assert report.dropped == 0
    for k, v in big.items():
        off = back.get(k, NOW)
        if k == b"big2":
            assert off == NIL
        else:
            assert back.value_bytes(off) == v and back.flags_of(off) == 7
    back.check_invariants()
    back.unlink(back.index.get(b"big1"))   # its chain goes back to the free list
    back.check_invariants()


def test_pinned_and_half_received_items(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 100)
    reader = store.index.get(b"key7")
    store.pin(reader)                                   # a reply still being sent
    half = store.reserve(b"half", 0, 0, 10, NOW)        # an upload cut by the stop
    store.fill_value(half, b"abc")
    gone = store.index.get(b"key8")
    store.pin(gone)
    store.unlink(gone)                                  # unlinked while a reader holds it
    stop(s, store)
    back, report, _ = start(s)
    assert back.get(b"half", NOW) == NIL and back.get(b"key8", NOW) == NIL
    assert back.value_bytes(back.get(b"key7", NOW)) == b"h" * 7
    assert back.refs == {}
    back.check_invariants()                   # the half item's chunk is free again


def test_no_cas_mode_round_trip(tmp_path):
    s = conf(tmp_path, cas_enabled=False)
    store = restart.make_store(s)
    expect = fill(store, 500)
    stop(s, store)
    back, report, _ = start(s)
    assert {k: v[:2] for k, v in live(back).items()} == {k: v[:2] for k, v in expect.items()}


def test_clock_resumes_with_the_time_spent_stopped(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    clock = FakeClock()
    clock.advance(1000)
    put(store, b"k", b"v", now=clock.current, exptime=clock.current + 2)
    stop(s, store, clock, stop_time=int(time.time()) - 3)
    fresh = FakeClock(start_unix=1)
    back, _, _ = start(s, fresh)
    assert fresh.process_started == clock.process_started
    assert fresh.current >= clock.current + 3
    assert back.get(b"k", fresh.current) == NIL          # its 2 s ran out while stopped


# ---- refusals: one log line, a cold start ------------------------------------------------

def cold(s):
    back, report, lines = start(s)
    assert report is None and back.curr_items == 0 and len(lines) == 1
    assert not os.path.exists(restart.meta_path(s.memory_file))
    back.check_invariants()
    return lines[0]


def saved(tmp_path, **kw):
    s = conf(tmp_path, **kw)
    store = restart.make_store(s)
    fill(store, 200)
    stop(s, store)
    return s


def test_missing_meta_is_a_clean_cache(tmp_path):
    s = conf(tmp_path)
    assert "no metadata save file" in cold(s)


@pytest.mark.parametrize("change", [
    {"m": 16 * MB}, {"chunk_size": 64}, {"growth_factor": 1.5}, {"item_size_max": 2 * MB},
    {"slab_chunk_max": 256 * 1024}, {"cas_enabled": False}, {"slab_reassign": False},
    {"no_modern": True, "slab_reassign": False, "slab_automove": 0}])
def test_layout_changes_refuse(tmp_path, change):
    s = saved(tmp_path)
    m = change.pop("m", s.memory_limit)
    line = cold(dataclasses.replace(s, memory_limit=m, **change))
    assert "restart incompatible due to setting for" in line


def test_other_layout_version_refuses(tmp_path):
    s = saved(tmp_path)
    path = restart.meta_path(s.memory_file)
    data = open(path, "rb").read().split(b"\nKcrc32")[0] + b"\n"
    data = data.replace(b"Klayout_version 1\n", b"Klayout_version 99\n")
    import zlib
    open(path, "wb").write(data + b"Kcrc32 %08x\n" % zlib.crc32(data))
    assert "layout_version" in cold(s)


@pytest.mark.parametrize("content", [b"", b"garbage", b"Tmain\nKmaxbytes 1\n"])
def test_empty_or_damaged_meta_refuses(tmp_path, content):
    s = saved(tmp_path)
    open(restart.meta_path(s.memory_file), "wb").write(content)
    assert "clean cache" in cold(s)


def test_stop_time_not_in_the_past_refuses(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 10)
    stop(s, store, stop_time=int(time.time()) + 60)
    assert "not in the past" in cold(s)


def test_short_memory_file_refuses(tmp_path):
    s = saved(tmp_path)
    os.truncate(s.memory_file, os.path.getsize(s.memory_file) // 2)
    assert "shorter" in cold(s)


def test_restore_rejects_bad_state(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 10)
    state = snapshot(store)
    for key, value in [("pages_used", "99999"), ("page_class", "!!"), ("lru", ""),
                       ("layout_version", "2")]:
        bad = dict(state, **{key: value})
        with pytest.raises(PersistError):
            restore(restart.make_store(s, wipe=False), bad)


# ---- settings and stats -----------------------------------------------------------------

def test_memory_file_option_and_stat(tmp_path):
    s = parse_settings(["-e", str(tmp_path / "f")], warn=lambda m: None)
    assert s.memory_file == str(tmp_path / "f")
    assert ("memory_file", str(tmp_path / "f")) in settings_stats(s)
    assert ("memory_file", "(null)") in settings_stats(Settings())
    assert parse_settings(["--memory-file=/x"], warn=lambda m: None).memory_file == "/x"


def test_mem_prefix_is_ambiguous_as_in_getopt():
    with pytest.raises(SettingsError) as err:
        parse_settings(["--mem=32"], warn=lambda m: None)
    assert err.value.message == ("memcached: option '--mem=32' is ambiguous; possibilities: "
                                 "'--memory-limit' '--memory-file'\nIllegal argument \"?\"")


# ---- the checker ------------------------------------------------------------------------

def test_checker_clean_and_refused(tmp_path):
    s = saved(tmp_path)
    out = io.StringIO()
    assert check.run(s.memory_file, out) == 0
    text = out.getvalue()
    assert "items: 200, dropped: 0" in text and "would restore: cleanly" in text
    assert "pages in the pool:" in text
    assert os.path.exists(restart.meta_path(s.memory_file))   # not consumed
    back, report, _ = start(s)                                  # and the file is unchanged
    assert report.total_items == 200
    out = io.StringIO()
    assert check.run(s.memory_file, out) == check.EXIT_REFUSED  # .meta consumed by start
    assert "would start cold" in out.getvalue()


def test_checker_reports_a_damaged_header(tmp_path):
    s = conf(tmp_path)
    store = restart.make_store(s)
    fill(store, 200)
    off = store.index.get(b"key42")
    store.arena.words[(off >> 3) + 3] |= 0xFF << 32     # key length 255: out of range
    stop(s, store)
    out = io.StringIO()
    assert check.run(s.memory_file, out) == check.EXIT_DAMAGED
    assert "first inconsistency: class" in out.getvalue()


# ---- damage: never serve what was not stored ----------------------------------------------

def damaged_start(tmp_path, mutate):
    s = conf(tmp_path)
    if os.path.exists(s.memory_file):
        os.unlink(s.memory_file)
    store = restart.make_store(s)
    expect = fill(store, 400, size=lambda i: i % 200)
    stop(s, store)
    mutate(s)
    back, report, _ = start(s)
    got = live(back)
    for k, v in got.items():
        assert expect.get(k) == v, f"served {k!r} with a value that was not stored"
    for k in expect:                          # lookups agree with the LRU walk
        off = back.get(k, NOW)
        assert (off == NIL) == (k not in got)
    back.check_invariants()
    return report


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 2 * MB - 1), st.integers(1, 255)),
                      min_size=1, max_size=20))
def test_flipped_arena_bytes_drop_items_never_corrupt_them(tmp_path, flips):
    def mutate(s):
        with open(s.memory_file, "r+b") as f:
            for pos, x in flips:
                f.seek(pos)
                b = f.read(1)
                f.seek(pos)
                f.write(bytes([b[0] ^ x]))
    damaged_start(tmp_path, mutate)


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_meta_is_refused(tmp_path, data):
    def mutate(s):
        path = restart.meta_path(s.memory_file)
        raw = bytearray(open(path, "rb").read())
        if data.draw(st.booleans()):
            cut = data.draw(st.integers(0, len(raw) - 2))   # the last byte is the newline
            raw = raw[:cut]
        else:
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] ^= data.draw(st.integers(1, 255))
        open(path, "wb").write(bytes(raw))
    report = damaged_start(tmp_path, mutate)
    assert report is None            # the CRC catches every cut and every flip


@hsettings(max_examples=10, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keep=st.floats(0.0, 0.99))
def test_truncated_memory_file_is_refused(tmp_path, keep):
    def mutate(s):
        os.truncate(s.memory_file, int(os.path.getsize(s.memory_file) * keep))
    assert damaged_start(tmp_path, mutate) is None


def test_broken_lru_link_relinks_what_it_can(tmp_path):
    """A link broken before the CRCs were taken (so only the LRU check can see it): the
    class is re-walked from both ends, the unreachable middle is dropped, nothing is wrong."""
    s = conf(tmp_path)
    store = restart.make_store(s)
    expect = fill(store, 400, size=lambda i: 10)
    cid = store.slabs.class_of(store.index.get(b"key0"))
    order = store.items_of_class(cid)
    store.arena.words[(order[10] >> 3)] = 12345            # NEXT of the 11th item
    store.arena.words[(order[12] >> 3) + 1] = 777          # PREV of the 13th: the 12th is lost
    state = snapshot(store)
    store.arena.flush()
    back = restart.make_store(s, wipe=False)
    report = restore(back, state)
    assert any("LRU list does not close" in p for p in report.problems)
    got = live(back)
    assert report.dropped == 1 and len(got) == len(order) - 1
    assert all(expect[k] == v for k, v in got.items())
    assert back.items_of_class(cid) == order[:11] + order[12:]
    back.check_invariants()


def test_a_page_in_the_movers_pool_comes_back_in_the_pool(tmp_path):
    """A page the page mover gave to the global pool (class 0) is restored there, empty,
    and the items rescued out of it are all served again."""
    from allocator.pagemover import PageMover
    s = conf(tmp_path, slab_reassign=True)
    store = restart.make_store(s)
    expect = fill(store, 30_000, size=lambda i: 100, flags=lambda i: 0)
    mover = PageMover(store)
    cid = store.class_of(store.index.get(b"key0"))
    assert mover.reassign(cid, 0).name == "OK"
    while mover.running:
        mover.step(NOW)
    expect = {k: v for k, v in expect.items() if store.get(k, NOW, bump=False) != NIL}
    assert store.slabs.pool and store.curr_items == len(expect)
    stop(s, store)
    back, report, lines = start(s)
    assert report is not None, lines
    assert len(back.slabs.pool) == 1 and back.curr_items == len(expect)
    for k, (v, flags, cas) in expect.items():
        off = back.get(k, NOW, bump=False)
        assert back.value_bytes(off) == v and back.cas_of(off) == cas
    back.check_invariants()
