"""watch's bounded buffers and line formats, without sockets."""

from __future__ import annotations

import re
import types

import pytest

from memcache_py import watch
from memcache_py.errors import UnknownCommand
from memcache_py.stats import ServerStats
from memcache_py.watch_request import (LOG_CONNEVENTS, LOG_EVICTIONS, LOG_FETCHERS,
                                       LOG_MUTATIONS, Watch, parse_watch)

pytestmark = pytest.mark.unit


class SlowTransport:
    """A transport whose peer reads nothing: what it is given stays unsent."""

    def __init__(self):
        self.sent = bytearray()
        self.unsent = 0

    def write(self, data: bytes) -> None:
        self.sent += data
        self.unsent += len(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def is_closing(self) -> bool:
        return False


def make_log(watcher_bytes: int = 4096, worker_bytes: int = 64 * 1024):
    settings = types.SimpleNamespace(watcher_logbuf_size=watcher_bytes,
                                     worker_logbuf_size=worker_bytes)
    store = types.SimpleNamespace(on_evict=None)
    daemon = types.SimpleNamespace(settings=settings, watchers=[], stats=ServerStats(),
                                   cache=types.SimpleNamespace(store=store))
    return watch.WatchLog(daemon)


def watcher_on(log, flags=LOG_FETCHERS):
    transport = SlowTransport()
    session = types.SimpleNamespace(protocol=types.SimpleNamespace(transport=transport))
    return log.add(session, flags), transport


def test_parse_watch():
    assert parse_watch([b"watch"]) == Watch(LOG_FETCHERS)
    assert parse_watch([b"watch", b"mutations", b"evictions"]) == \
        Watch(LOG_MUTATIONS | LOG_EVICTIONS)
    with pytest.raises(UnknownCommand) as exc:
        parse_watch([b"watch", b"foo"])
    assert not exc.value.noreply
    with pytest.raises(UnknownCommand) as exc:
        parse_watch([b"watch", b"fetchers", b"noreply"])
    assert exc.value.noreply


def test_lines_have_memcacheds_prefix(monkeypatch):
    monkeypatch.setattr(watch.time, "time", lambda: 1700000000.012345)
    log = make_log()
    w, transport = watcher_on(log)
    monkeypatch.setattr(watch.asyncio, "get_running_loop",
                        lambda: types.SimpleNamespace(call_soon=lambda f: None))
    log.log(LOG_FETCHERS, b"type=item_get key=a status=found clsid=1 cfd=9 size=1")
    log.log(LOG_MUTATIONS, b"type=item_store ...")          # not watched: not even a gid
    log.log(LOG_FETCHERS, b"type=item_get key=b status=not_found clsid=0 cfd=9 size=0")
    log.flush()
    # gid 1 went to the watcher itself (memcached's min_gid); usec is not zero-padded
    assert bytes(transport.sent) == (
        b"ts=1700000000.12345 gid=2 type=item_get key=a status=found clsid=1 cfd=9 size=1\n"
        b"ts=1700000000.12345 gid=3 type=item_get key=b status=not_found clsid=0 cfd=9 size=0\n")


def test_a_slow_watcher_skips_lines_and_says_how_many(monkeypatch):
    monkeypatch.setattr(watch.asyncio, "get_running_loop",
                        lambda: types.SimpleNamespace(call_soon=lambda f: None))
    log = make_log(watcher_bytes=4096)
    w, transport = watcher_on(log)
    line = b"type=item_get key=" + b"k" * 60 + b" status=found clsid=1 cfd=9 size=1"
    for _ in range(1000):
        log.log(LOG_FETCHERS, line)
        log.flush()
    # never more than the buffer (a line and memcached's 128 bytes of slack always fit)
    assert transport.unsent <= 4096
    assert w.skipped > 900 and log.stats.log_watcher_skipped == w.skipped
    taken = transport.unsent
    transport.unsent = 0                                   # the peer reads everything
    log.log(LOG_FETCHERS, line)
    log.flush()
    tail = bytes(transport.sent[taken:])
    sent = log.stats.log_watcher_sent
    assert re.fullmatch(rb"skipped=%d\nts=\S+ gid=\d+ " % (1000 - sent + 1)
                        + re.escape(line) + rb"\n", tail)
    assert w.skipped == 0


def test_worker_buffer_drops_past_its_size(monkeypatch):
    monkeypatch.setattr(watch.asyncio, "get_running_loop",
                        lambda: types.SimpleNamespace(call_soon=lambda f: None))
    monkeypatch.setattr(watch.time, "time", lambda: 1700000000.5)
    log = make_log(watcher_bytes=1 << 20, worker_bytes=1000)
    watcher_on(log)
    for _ in range(100):
        log.log(LOG_FETCHERS, b"x" * 50)
    # "ts=1700000000.500000 gid=N " + 50 + "\n": 78 bytes for gids 2-9, then 79: 8 + 4 fit
    assert (log.stats.log_worker_written, log.stats.log_worker_dropped) == (12, 88)
    log.flush()
    log.log(LOG_FETCHERS, b"x" * 50)
    assert log.stats.log_worker_written == 13          # a new loop turn, a fresh buffer


def test_only_matching_watchers_get_a_line(monkeypatch):
    monkeypatch.setattr(watch.asyncio, "get_running_loop",
                        lambda: types.SimpleNamespace(call_soon=lambda f: None))
    log = make_log()
    _, fetch = watcher_on(log, LOG_FETCHERS)
    _, conns = watcher_on(log, LOG_CONNEVENTS | LOG_EVICTIONS)
    assert log.daemon.cache.store.on_evict is not None     # someone watches evictions
    log.log(LOG_CONNEVENTS, b"type=conn_new")
    log.flush()
    assert not fetch.sent and b"type=conn_new" in conns.sent
    log.remove(log.watchers[1])
    assert log.daemon.cache.store.on_evict is None
    assert log.flags == LOG_FETCHERS


def test_uriencode_is_memcacheds():
    assert watch.uriencode(b"a-b._~Z9") == b"a-b._~Z9"
    assert watch.uriencode(b"k y/\xc3:") == b"k%20y%2F%C3%3A"
