"""auth.py without sockets: memcached's auth file format and the per-connection gate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from memcache_py.auth import (AUTH_FAILURE, BAD_TERMINATION, BAD_TOKEN_FORMAT, STORED,
                              UNAUTHENTICATED, AuthFileError, AuthGate, AuthTable,
                              parse_auth_file)
from memcache_py.stats import ServerStats

pytestmark = pytest.mark.unit


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "auth"
    path.write_bytes(b"alice:wonder\nbob:build er\r\ncarol:p:w\n")
    return AuthTable(str(path))


def gate(table):
    return AuthGate(table, ServerStats())


@pytest.mark.parametrize("data, entries", [
    (b"", []),
    (b"a:b", [(b"a", b"b")]),
    (b"a:b\n", [(b"a", b"b")]),
    (b"a:b\r\nc:\n", [(b"a", b"b"), (b"c", b"")]),
    (b"a:b:c\n", [(b"a", b"b:c")]),
    (b"a:b\0c\n", [(b"a", b"b")]),
    (b":x\n", [(b"", b"x")]),
    (b"".join(b"u%d:p\n" % i for i in range(10)), [(b"u%d" % i, b"p") for i in range(8)]),
])
def test_auth_file_entries(data, entries):
    assert parse_auth_file(data, "f") == entries


@pytest.mark.parametrize("data", [b"a:b\n\n", b"\n", b"nocolon\n", b"a:b\nnocolon",
                                  b"a\0:b\n", b"a:" + b"x" * 300 + b"\n"])
def test_malformed_auth_file(data):
    with pytest.raises(AuthFileError) as err:
        parse_auth_file(data, "/etc/f")
    assert err.value.message == ("Authfile [/etc/f] has a malformed entry. "
                                 "Should be 'user:password'")
    assert err.value.status == 1


def test_missing_auth_file(tmp_path):
    with pytest.raises(AuthFileError) as err:
        AuthTable(str(tmp_path / "nope"))
    assert err.value.message == (f"Could not open authfile [{tmp_path / 'nope'}] for reading, "
                                 "error No such file or directory: No such file or directory")


def test_check_compares_whole_user_and_password(table):
    assert table.check(b"alice", b"wonder")
    assert table.check(b"carol", b"p:w")
    for user, password in ((b"alice", b"wonde"), (b"alice", b"wonderX"), (b"alic", b"wonder"),
                           (b"bob", b"build"), (b"alice", b""), (b"", b"")):
        assert not table.check(user, password)


def test_reload_keeps_old_entries_when_the_file_is_bad(table):
    with open(table.path, "wb") as f:
        f.write(b"dave:x\n")
    assert table.reload() and table.entries == [(b"dave", b"x")]
    with open(table.path, "wb") as f:
        f.write(b"broken\n")
    assert not table.reload() and table.entries == [(b"dave", b"x")]


def test_every_command_is_unauthenticated(table):
    g = gate(table)
    for line in (b"get a\r\n", b"version\r\n", b"quit\r\n", b"mn\r\n", b"set a 0 0\r\n",
                 b"SET a 0 0 1\r\n", b"set a 0 0 -1\r\n", b"set a 0 0 x\r\n", b"\r\n",
                 b"stats\r\n"):
        assert g.receive(line) == (UNAUTHENTICATED, None, False)


@pytest.mark.parametrize("block, reply", [
    (b"alice wonder", STORED),
    (b"alice  wonder extra", STORED),
    (b"alice wrong", AUTH_FAILURE),
    (b"alice", BAD_TOKEN_FORMAT),
    (b"alice ", BAD_TOKEN_FORMAT),
    (b"", BAD_TOKEN_FORMAT),
    (b"alice wonder\0junk", STORED),
])
def test_credentials(table, block, reply):
    g = gate(table)
    out, rest, close = g.receive(b"set k 0 0 %d noreply\r\n%s\r\n" % (len(block), block))
    assert (out, rest is not None, close) == (reply, reply == STORED, False)
    assert (g.stats.auth_cmds, g.stats.auth_errors) == (
        0 if reply == BAD_TOKEN_FORMAT else 1, 1 if reply == AUTH_FAILURE else 0)


def test_bad_termination_then_the_rest_is_a_line(table):
    g = gate(table)
    assert g.receive(b"set k 0 0 3\r\nabcde\r\n") == (UNAUTHENTICATED, None, False)
    assert g.receive(b"set k 0 0 3\r\nabcde") == (BAD_TERMINATION, None, False)


def test_only_the_last_answer_of_a_read_is_sent(table):
    g = gate(table)
    assert g.receive(b"get a\r\nset k 0 0 11\r\nalice wrong\r\n") == (AUTH_FAILURE, None, False)
    assert g.receive(b"get a\r\nset k 0 0 12\r\nalice wonder\r\nget k\r\n") == (
        STORED, b"get k\r\n", False)


def test_byte_by_byte(table):
    g = gate(table)
    data = b"get x\r\nset k 0 0 12\r\nalice wonder\r\nversion\r\n"
    replies, rest = [], None
    for i in range(len(data)):
        out, rest, close = g.receive(data[i:i + 1])
        assert not close
        if out:
            replies.append(out)
        if rest is not None:
            rest += data[i + 1:]
            break
    assert replies == [UNAUTHENTICATED, STORED] and rest == b"version\r\n"


def test_long_line_and_large_block_close(table):
    assert gate(table).receive(b"x" * 2049) == (b"", None, True)
    g = gate(table)
    assert g.receive(b"set k 0 0 100000\r\n") == (b"", None, False)
    assert g.receive(b"a" * 20000) == (b"", None, True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_arbitrary_bytes_never_raise_or_grow(chunks):
    g = AuthGate(AuthTable.__new__(AuthTable), ServerStats())
    g.table.entries = [(b"u", b"p")]
    for chunk in chunks:
        out, rest, close = g.receive(chunk)
        assert out in (b"", UNAUTHENTICATED, BAD_TERMINATION, BAD_TOKEN_FORMAT, AUTH_FAILURE,
                       STORED)
        if close or rest is not None:
            break
        assert len(g.buf) <= 16384 + 64
