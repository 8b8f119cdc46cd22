"""Fuzzing a live daemon (issue #5): random and mutated commands over real sockets.

Every reply must be one of memcached's protocol replies (a grammar below) or a close; no
`SERVER_ERROR internal error`, no "bug while serving" in the log; a neighbour connection keeps
working; and once the fuzzing connections are gone no pin or reservation is left behind.
`MEMCACHE_FUZZ_EXAMPLES=N` runs N examples per property instead of the CI default.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import wait_until
from tests.unit.test_fuzz_parser import session, split_randomly

from .helpers import Conn

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("MEMCACHE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
PROBE = b"\r\nmn\r\n"          # ends any unterminated line, then a no-op that answers MN
SENT = {"inputs": 0, "bytes": 0}

# ---------------------------------------------------------------------------------------------
# The reply grammar: what memcached 1.6.18 can send on the text and meta protocols
# ---------------------------------------------------------------------------------------------
_LINE = re.compile(
    rb"(END|STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|OK|RESET|ERROR|MN"
    rb"|[0-9]+"
    rb"|ERROR[ :].*|CLIENT_ERROR .+|SERVER_ERROR .+|VERSION .+"
    rb"|STAT [^ ]+ .*|ITEM .+|PREFIX .+"
    rb"|(HD|NS|EX|NF|EN)( [^ ]+)*|ME .+"
    rb"|BUSY .+|BADCLASS .+|NOSPARE .+|SAME .+|NOTSTARTED .+|MEMLIMIT_[A-Z_]+ .+)",
    re.DOTALL)
_METADUMP = re.compile(rb"key=[^ ]+ exp=-?[0-9]+ la=[0-9]+ cas=[0-9]+ fetch=(yes|no) "
                       rb"cls=[0-9]+ size=[0-9]+")
_DIGITS = re.compile(rb"[0-9]+")


def check_replies(data: bytes, complete: bool = False) -> list[bytes]:
    """Split a reply stream into replies; raise AssertionError on anything memcached never
    sends. A trailing partial reply is allowed unless `complete`."""
    out = []
    i, n = 0, len(data)
    while i < n:
        j = data.find(b"\n", i)
        if j < 0:
            assert not complete, f"unterminated reply line {data[i:i + 80]!r}"
            break
        raw = data[i:j]
        if raw.startswith(b"key="):                 # lru_crawler metadump: bare \n lines
            assert _METADUMP.fullmatch(raw), f"bad metadump line {raw[:120]!r}"
            out.append(raw)
            i = j + 1
            continue
        assert raw.endswith(b"\r"), f"reply line not ending in CRLF: {raw[:120]!r}"
        line = raw[:-1]
        i = j + 1
        toks = line.split(b" ")
        if toks[0] in (b"VALUE", b"VA"):
            size_tok = toks[3] if toks[0] == b"VALUE" else toks[1]
            assert len(toks) >= (4 if toks[0] == b"VALUE" else 2) and _DIGITS.fullmatch(
                size_tok), f"bad value line {line[:120]!r}"
            size = int(size_tok)
            if i + size + 2 > n:
                assert not complete, "truncated data block"
                break
            assert data[i + size:i + size + 2] == b"\r\n", f"data block of {line[:80]!r} " \
                f"does not end in CRLF"
            out.append(line + b"\r\n" + data[i:i + size])
            i += size + 2
            continue
        assert b"internal error" not in line, f"the daemon hit a bug: {line!r}"
        assert _LINE.fullmatch(line), f"not a memcached reply: {line[:160]!r}"
        out.append(line)
    return out


def exchange(host: str, port: int, chunks: list[bytes], timeout: float = 1.0
             ) -> tuple[bytes, bool]:
    """Send the chunks (with the probe after them) and read until MN, a close or silence."""
    sock = socket.create_connection((host, port), 5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    closed = False
    try:
        for c in chunks + [PROBE]:
            try:
                sock.sendall(c)
            except OSError:         # the daemon closed on us (long line, HTTP, binary)
                closed = True
                break
        sock.settimeout(0.05)
        deadline = time.monotonic() + timeout
        quiet_until = time.monotonic() + 0.3
        while time.monotonic() < deadline and not buf.endswith(b"MN\r\n"):
            try:
                d = sock.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                if time.monotonic() > quiet_until:
                    break           # e.g. waiting for a data block the session never sent
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not d:
                closed = True
                break
            buf += d
            quiet_until = time.monotonic() + 0.3
    finally:
        sock.close()
    return bytes(buf), closed


@pytest.fixture
def fuzz_daemon(make_daemon, caplog):
    caplog.set_level(logging.ERROR, logger="memcache_py")
    d = make_daemon(memory_limit=8 * 1024 * 1024)
    neighbour = Conn(d.host, d.port)
    neighbour.cmd(b"set nbr 0 0 5\r\nhello\r\n")
    yield d, neighbour
    assert neighbour.cmd(b"mn\r\n") == b"MN\r\n", "a neighbour connection stopped working"
    # every fuzzing connection is closed: nothing may stay pinned or reserved
    wait_until(lambda: d.call(lambda: len(d.daemon.connections)) <= 1, 5)
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}, "leaked pins/reservations"
    d.call(d.daemon.cache.store.check_invariants)
    bugs = [r for r in caplog.records if r.name == "memcache_py" and r.levelno >= logging.ERROR]
    assert not bugs, "the daemon logged errors:\n" + "\n".join(r.getMessage() for r in bugs)
    neighbour.close()


def _run(d, neighbour, chunks: list[bytes]) -> None:
    SENT["inputs"] += 1
    SENT["bytes"] += sum(map(len, chunks))
    data, closed = exchange(d.host, d.port, chunks)
    check_replies(data)
    if not closed and data.endswith(b"MN\r\n"):
        check_replies(data, complete=True)
    assert neighbour.cmd(b"version\r\n").startswith(b"VERSION "), "neighbour starved/closed"


@FUZZ
@given(rng=st.randoms(use_true_random=False), n=st.integers(1, 16))
def test_mutated_sessions_get_only_protocol_replies(fuzz_daemon, rng, n):
    d, neighbour = fuzz_daemon
    data = b"".join(session(rng, n, mutate_p=0.6))
    _run(d, neighbour, split_randomly(rng, data, 6))


@FUZZ
@given(data=st.binary(min_size=1, max_size=2500), rng=st.randoms(use_true_random=False))
def test_random_bytes_get_only_protocol_replies(fuzz_daemon, data, rng):
    d, neighbour = fuzz_daemon
    _run(d, neighbour, split_randomly(rng, data, 6))


def test_seeded_mutation_corpus(fuzz_daemon):
    """A fixed corpus (seeds 0..149) so every CI run also covers the same inputs."""
    d, neighbour = fuzz_daemon
    for seed in range(150):
        rng = random.Random(seed)
        data = b"".join(session(rng, rng.randrange(1, 20), mutate_p=0.7))
        _run(d, neighbour, split_randomly(rng, data, 4))


def test_reply_grammar_rejects_garbage():
    """The checker itself: it must catch what is not a memcached reply."""
    check_replies(b"VALUE k 0 3\r\nabc\r\nEND\r\nSTORED\r\n12\r\nHD k c5\r\nMN\r\n", True)
    for bad in (b"STORED\n", b"VALUE k 0 3\r\nabcd\r\n", b"hello\r\n",
                b"SERVER_ERROR internal error\r\n", b"VALUE k 0 x\r\n"):
        with pytest.raises(AssertionError):
            check_replies(bad, True)
