"""pymemcache, a real memcached client, against the daemon (or memcached with --server)."""

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

pytestmark = pytest.mark.integration


@pytest.fixture
def client(server):
    c = Client(server, connect_timeout=5, timeout=5)
    yield c
    c.close()


def test_set_get_delete(client):
    assert client.set("k", b"value") is True
    assert client.get("k") == b"value"
    assert client.delete("k") is True
    assert client.get("k") is None


def test_get_many_and_binary_values(client):
    values = {f"key{i}": bytes([i]) * i + b"\r\n\x00" for i in range(50)}
    client.set_many(values)
    assert client.get_many(list(values)) == values


def test_add_replace_append_prepend(client):
    assert client.add("a", b"1") is True
    assert client.add("a", b"2", noreply=False) is False
    assert client.replace("a", b"3", noreply=False) is True
    assert client.replace("nope", b"3", noreply=False) is False
    client.append("a", b"x")
    client.prepend("a", b"y")
    assert client.get("a") == b"y3x"


def test_gets_and_cas(client):
    client.set("c", b"v1")
    value, cas = client.gets("c")
    assert value == b"v1"
    assert client.cas("c", b"v2", cas) is True
    assert client.cas("c", b"v3", cas) is False
    assert client.get("c") == b"v2"


def test_incr_decr(client):
    client.set("n", b"10")
    assert client.incr("n", 5) == 15
    assert client.decr("n", 20) == 0
    assert client.incr("missing", 1) is None


def test_touch_and_flush(client):
    client.set("t", b"v")
    assert client.touch("t", 100, noreply=False) is True
    client.flush_all(noreply=False)
    assert client.get("t") is None


def test_large_value_roundtrip(client):
    data = bytes(range(256)) * 4000          # ~1 MB minus a bit: largest class, chunked
    client.set("big", data[:1000000])
    assert client.get("big") == data[:1000000]


def test_too_large_is_a_server_error(client):
    with pytest.raises(Exception) as info:
        client.set("huge", b"x" * (1024 * 1024 + 1), noreply=False)
    assert "object too large" in str(info.value)


def test_stats_parse(client):
    client.set("s", b"v")
    client.get("s")
    s = client.stats()
    assert s[b"cmd_set"] >= 1 and s[b"get_hits"] >= 1 and s[b"curr_items"] >= 1
    assert s[b"version"] == b"1.6.18"
    slabs = client.stats("slabs")
    assert slabs[b"active_slabs"] >= 1
    assert isinstance(client.stats("settings")[b"maxbytes"], int)


def test_version(client):
    assert client.version() == b"1.6.18"


def test_bad_key_is_refused_by_client(client):
    with pytest.raises(MemcacheClientError):
        client.set("k" * 251, b"v")
