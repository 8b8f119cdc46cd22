"""The handlers, through a connection on a FakeTransport: exact reply bytes, counters, pins.

One request or pipeline per case, fed whole and byte by byte, so the general request loop
and the lone-request shortcut both answer every case.
"""

import pytest

from memcache_py.clock import FakeClock
from tests.conftest import connect_fake, offline_daemon

pytestmark = pytest.mark.unit


def run(data: bytes, *, byte_by_byte=False, daemon=None, **settings):
    daemon = daemon or offline_daemon(FakeClock(), **settings)
    p, t = connect_fake(daemon)
    if byte_by_byte:
        for i in range(len(data)):
            p.data_received(data[i:i + 1])
    else:
        p.data_received(data)
    return t.written, daemon


CASES = [
    (b"set k 5 0 2\r\nhi\r\nget k\r\n", b"STORED\r\nVALUE k 5 2\r\nhi\r\nEND\r\n"),
    (b"get nokey\r\n", b"END\r\n"),
    (b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a b c\r\n",
     b"STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n"),
    (b"add k 0 0 1\r\nx\r\nadd k 0 0 1\r\ny\r\n", b"STORED\r\nNOT_STORED\r\n"),
    (b"replace k 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
    (b"cas k 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n"),
    (b"set k 0 0 1\r\nxy\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
    (b"set k 0 0 1 noreply\r\nx\r\nget k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n"),
    (b"delete k\r\n", b"NOT_FOUND\r\n"),
    (b"set k 0 0 1\r\n5\r\nincr k 10\r\ndecr k 20\r\n", b"STORED\r\n15\r\n0\r\n"),
    (b"touch k 10\r\n", b"NOT_FOUND\r\n"),
    (b"set k 0 0 1\r\nx\r\ntouch k 10\r\ndelete k\r\n", b"STORED\r\nTOUCHED\r\nDELETED\r\n"),
    (b"flush_all\r\nflush_all noreply\r\n", b"OK\r\n"),
    (b"version\r\n", b"VERSION 1.6.18\r\n"),
    (b"verbosity 1\r\n", b"OK\r\n"),
    (b"bogus\r\n", b"ERROR\r\n"),
    (b"get " + b"k" * 251 + b"\r\n", b"CLIENT_ERROR bad command line format\r\n"),
    (b"ms k 2 T0\r\nhi\r\nmg k v f\r\n", b"HD\r\nVA 2 f0\r\nhi\r\n"),
    (b"mn\r\n", b"MN\r\n"),
]


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("data,reply", CASES, ids=[c[0][:24].decode() for c in CASES])
def test_reply_bytes(data, reply, byte_by_byte):
    written, daemon = run(data, byte_by_byte=byte_by_byte)
    assert written == reply
    daemon.cache.store.check_invariants()
    assert not daemon.cache.store.refs


def test_gets_shows_the_cas_id_on_both_paths():
    daemon = offline_daemon(FakeClock())
    run(b"set k 0 0 1\r\nx\r\n", daemon=daemon)
    lone, _ = run(b"gets k\r\n", daemon=daemon)             # alone in its read
    piped, _ = run(b"gets k\r\nmn\r\n", daemon=daemon)      # through the request loop
    assert lone == b"VALUE k 0 1 1\r\nx\r\nEND\r\n" and piped == lone + b"MN\r\n"


def test_counters_of_a_get_mix():
    written, d = run(b"set a 0 0 1\r\n1\r\nget a b a\r\nget b\r\n")
    s = d.stats
    assert (s.cmd_get, s.get_hits, s.get_misses, s.cmd_set) == (4, 2, 2, 1)
    assert sum(c.get_hits for c in d.cache.store.slab_counters) == 2


def test_a_large_value_is_queued_pinned_and_released_once_written():
    daemon = offline_daemon(FakeClock())
    value = b"v" * 100_000
    run(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), daemon=daemon)
    written, _ = run(b"get big\r\n", daemon=daemon)
    assert written == b"VALUE big 0 100000\r\n" + value + b"\r\nEND\r\n"
    assert not daemon.cache.store.refs


def test_cache_memlimit_moves_the_limit():
    written, d = run(b"cache_memlimit 16\r\ncache_memlimit 7\r\n")
    assert written == (b"OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
    assert d.cache.store.memory_limit == 16 * 1024 * 1024


def test_shutdown_needs_dash_a():
    written, _ = run(b"shutdown\r\n")
    assert written == b"ERROR: shutdown not enabled\r\n"
