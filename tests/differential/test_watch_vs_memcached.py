"""`watch` lines against the real memcached 1.6.18: the same commands, the same log lines.

Only what differs by nature is masked: ts, gid (compared as consecutive), cfd and rport, and
a ttl may be one second apart (the two clocks tick at different moments). Skipped when
memcached is not installed. Stores refused as too large are not logged by us (memcached logs
them with fields it never set).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import MEMCACHED, MemcachedProcess, free_port, wait_port

pytestmark = pytest.mark.differential

if not MEMCACHED:
    pytest.skip("memcached not installed", allow_module_level=True)

COMMANDS = [
    b"set foo 5 0 3\r\nbar\r\n", b"get foo\r\n", b"get nope\r\n", b"add foo 0 0 1\r\nx\r\n",
    b"set t 0 -1 2\r\nab\r\n", b"get t\r\n", b"replace zz 0 0 1\r\nx\r\n",
    b"cas foo 0 0 1 999\r\nx\r\n", b"cas nn 0 0 1 999\r\nx\r\n", b"set k\xc3y 0 100 1\r\nx\r\n",
    b"incr foo 1\r\n", b"delete foo\r\n", b"touch t 10\r\n", b"gets foo t\r\n",
    b"set n 0 0 1\r\n5\r\n", b"incr n 3\r\n", b"prepend n 0 0 1\r\n1\r\n", b"gat 100 n\r\n",
    b"mg foo v\r\n", b"ms mk 2 T50\r\nhi\r\n", b"mg mk v\r\n", b"ma n\r\n", b"md mk\r\n",
    b"ms mk 1 MA\r\nz\r\n",
    b"set big 0 0 300000\r\n" + b"b" * 300000 + b"\r\n",
]
VOLATILE = re.compile(rb"ts=\d+\.\d+ gid=\d+ |cfd=\d+|rport=\d+")


def recv_all(s: socket.socket, quiet: float = 0.3) -> bytes:
    s.settimeout(quiet)
    out = b""
    while True:
        try:
            data = s.recv(65536)
        except socket.timeout:
            return out
        if not data:
            return out
        out += data


def session(port: int) -> list[bytes]:
    w = socket.create_connection(("127.0.0.1", port))
    w.sendall(b"watch fetchers mutations connevents\r\n")
    assert recv_all(w) == b"OK\r\n"
    c = socket.create_connection(("127.0.0.1", port))
    for cmd in COMMANDS:
        c.sendall(cmd)
        recv_all(c, 0.05)
    c.close()
    time.sleep(1.2)                 # memcached's logger thread flushes at its own pace
    lines = recv_all(w, 0.5).splitlines()
    w.close()
    gids = [int(re.search(rb"gid=(\d+)", line).group(1)) for line in lines]
    assert gids == list(range(gids[0], gids[0] + len(gids))), lines
    return [VOLATILE.sub(b"", line) for line in lines]


def same_but_ttl(ours: bytes, theirs: bytes) -> bool:
    a, b = re.search(rb"ttl=(\d+)", ours), re.search(rb"ttl=(\d+)", theirs)
    if not (a and b):
        return ours == theirs
    return (abs(int(a.group(1)) - int(b.group(1))) <= 1
            and ours[:a.start()] + ours[a.end():] == theirs[:b.start()] + theirs[b.end():])


def test_watch_lines_match_memcached():
    mc = MemcachedProcess("-o", "no_modern").start()
    try:
        theirs = session(mc.port)
    finally:
        mc.stop()
    port = free_port()
    ours_proc = subprocess.Popen([sys.executable, "-m", "memcache_py", "-p", str(port),
                                  "-l", "127.0.0.1", "-o", "no_modern"])
    try:
        wait_port("127.0.0.1", port)
        ours = session(port)
    finally:
        ours_proc.terminate()
        ours_proc.wait(10)
    assert len(ours) == len(theirs), b"\n".join(ours) + b"\n---\n" + b"\n".join(theirs)
    for a, b in zip(ours, theirs):
        assert same_but_ttl(a, b), (a, b)
