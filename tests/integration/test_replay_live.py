"""replay is faithful: the same trace replayed offline and played against a live daemon
gives the same hit ratio (the issue's bound: within 0.5 points).

Both run `-o no_modern`, the flat LRU that is the only one memcache_py has today.
"""

from __future__ import annotations

import dataclasses

import pytest

from memcache_py.replay import Config, Trace, replay
from memcache_py.settings import parse_settings
from tests.conftest import DaemonThread
from tests.faithful import make_trace, play

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("memory_mb,factor", [(4, 1.25), (8, 1.1)])
def test_replay_agrees_with_a_live_daemon(tmp_path, memory_mb, factor):
    path = make_trace(tmp_path / "zipf.csv")
    config = Config(memory_mb, factor)
    offline = replay(config, Trace(path).requests())
    d = DaemonThread()
    d.settings = dataclasses.replace(parse_settings(config.argv()), port=-1,
                                     listen=("127.0.0.1",))
    d.start()
    try:
        gets, hits = play(d.host, d.port, path)
    finally:
        d.stop()
    assert gets == offline.requests
    live = hits / gets
    assert 0.05 < live < 0.95                    # the cache is under pressure, not trivial
    assert abs(100 * (live - offline.hit_ratio)) <= 0.5, (live, offline.hit_ratio)


def test_a_trace_recorded_with_watch_replays_to_the_same_answer(tmp_path):
    """Record a live run with `watch fetchers mutations`, replay the log (its sets are in it,
    so no fills), and get the live hit ratio back."""
    import socket
    import threading
    path = make_trace(tmp_path / "zipf.csv")
    config = Config(4, 1.25)
    d = DaemonThread()
    d.settings = dataclasses.replace(parse_settings(config.argv()), port=-1,
                                     listen=("127.0.0.1",), watcher_logbuf_size=64 << 20,
                                     worker_logbuf_size=64 << 20)
    d.start()
    log = tmp_path / "watch.log"
    w = socket.create_connection((d.host, d.port))
    w.sendall(b"watch fetchers mutations\r\n")
    done = threading.Event()

    def record():
        with open(log, "wb") as f:
            w.settimeout(0.2)
            while True:
                try:
                    data = w.recv(1 << 20)
                except socket.timeout:
                    if done.is_set():
                        return
                    continue
                if not data:
                    return
                f.write(data)
    recorder = threading.Thread(target=record)
    recorder.start()
    try:
        from tests.conftest import wait_until
        assert wait_until(lambda: len(d.daemon.watchers) == 1)
        gets, hits = play(d.host, d.port, path)
    finally:
        done.set()
        recorder.join(10)
        w.close()
        d.stop()
    trace = Trace(str(log))
    assert trace.format == "watch" and trace.records_sets()
    offline = replay(config, trace.requests(), fill=False)
    assert offline.requests == gets
    assert abs(100 * (hits / gets - offline.hit_ratio)) <= 0.5
