"""A cache-aside client that plays a generated trace against a live server, for the
faithfulness tests of replay (tests/integration/test_replay_live.py and the differential one).
"""

from __future__ import annotations

import socket

from memcache_py.replay.generate import requests as zipf, write

from tests.integration.helpers import Conn

# 20000 gets of 5000 Zipf(0.9) keys, 80% of them 100-byte values and 20% 3000-byte ones
TRACE = dict(n=20_000, keys=5_000, alpha=0.9, sizes=[(100, 0.8), (3000, 0.2)])


def make_trace(path) -> str:
    write(str(path), "twitter", zipf(TRACE["n"], TRACE["keys"], TRACE["alpha"], TRACE["sizes"]))
    return str(path)


def play(host: str, port: int, trace_path: str) -> tuple[int, int]:
    """(gets, hits) of a cache-aside client: get, and on a miss set the recorded size."""
    from memcache_py.replay.formats import GET, Trace
    c = Conn(host, port)
    # a noreply set then a get: without NODELAY, Nagle holds the get for the delayed ACK
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    gets = hits = 0
    try:
        for _ts, op, key, size, ttl in Trace(trace_path).requests():
            assert op == GET
            reply = c.cmd(b"get %s\r\n" % key, b"END\r\n")
            gets += 1
            if reply.startswith(b"VALUE"):
                hits += 1
                continue
            c.send(b"set %s 0 %d %d noreply\r\n%s\r\n" % (key, ttl, size, b"v" * size))
        c.cmd(b"version\r\n")             # every noreply set has been handled
    finally:
        c.close()
    return gets, hits
