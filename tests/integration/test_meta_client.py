"""meta-memcache, a client built on the meta protocol, against the daemon (or memcached).

Covers what such a client does in production: get/set/delete/touch, counters with `ma`,
CAS writes, and the herd-control features built on `N`, `R`, `I` and the W/X/Z flags (leases,
recache, stale-on-delete).
"""

import pytest

pytest.importorskip("meta_memcache")

from meta_memcache import (  # noqa: E402
    CacheClient, Key, LeasePolicy, RecachePolicy, ServerAddress, SetMode, StalePolicy,
    connection_pool_factory_builder)
from meta_memcache.protocol import RequestFlags, Value  # noqa: E402

from .helpers import Conn  # noqa: E402

pytestmark = pytest.mark.integration


def make_client(host, port):
    return CacheClient.cache_client_from_servers(
        servers=[ServerAddress(host=host, port=port)],
        connection_pool_factory_fn=connection_pool_factory_builder(
            connection_timeout=5, recv_timeout=5))


@pytest.fixture
def client(server):
    return make_client(*server)


def no_wait(seconds):
    """lease_wait_fn: retry at once instead of sleeping."""


def test_set_get_delete(client):
    assert client.set("k1", "hello", ttl=60) is True
    assert client.get("k1") == "hello"
    assert client.delete("k1") is True
    assert client.get("k1") is None
    assert client.delete("k1") is False
    assert client.invalidate("k1") is True


def test_values_of_every_type_round_trip(client):
    values = {"s": "text", "b": b"\x00\r\n\xff" * 100, "i": 12345, "d": {"a": [1, 2]},
              "big": b"x" * 300_000}
    for k, v in values.items():
        assert client.set(k, v, ttl=0) is True
    for k, v in values.items():
        assert client.get(k) == v


def test_multi_get_mixes_hits_and_misses(client):
    client.set("mg_a", "A", ttl=60)
    client.set("mg_b", "B", ttl=60)
    got = client.multi_get(["mg_a", "mg_none", "mg_b"])
    assert got == {Key("mg_a"): "A", Key("mg_none"): None, Key("mg_b"): "B"}


def test_binary_and_unicode_keys(client):
    key = Key("clé/ünïcode ✓ with spaces")
    assert client.set(key, "v", ttl=60) is True
    assert client.get(key) == "v"
    assert client.delete(key) is True
    assert client.get(key) is None


def test_set_modes(client):
    assert client.set("sm", "a", ttl=60, set_mode=SetMode.ADD) is True
    assert client.set("sm", "b", ttl=60, set_mode=SetMode.ADD) is False
    assert client.set("sm_none", "b", ttl=60, set_mode=SetMode.REPLACE) is False
    assert client.set("sm", b"c", ttl=60, set_mode=SetMode.REPLACE) is True
    assert client.set("sm", b"d", ttl=60, set_mode=SetMode.APPEND) is True
    assert client.set("sm", b"e", ttl=60, set_mode=SetMode.PREPEND) is True
    assert client.get("sm") == b"ecd"
    assert client.refill("sm", b"z", ttl=60) is False


def test_touch_and_ttl(client):
    client.set("t1", "v", ttl=0)
    assert client.touch("t1", ttl=500) is True
    result = client.meta_get(Key("t1"), flags=RequestFlags(return_ttl=True))
    assert 498 <= result.flags.ttl <= 500
    assert client.touch("t_missing", ttl=10) is False
    assert client.get("t1", touch_ttl=100) == "v"
    result = client.meta_get(Key("t1"), flags=RequestFlags(return_ttl=True))
    assert 98 <= result.flags.ttl <= 100


def test_cas_writes(client):
    cas = client.set_cas("c1", "v1", ttl=60)
    assert cas is not None
    value, token = client.get_cas("c1")
    assert (value, token) == ("v1", cas)
    assert client.set("c1", "v2", ttl=60, cas_token=token) is True
    assert client.set("c1", "v3", ttl=60, cas_token=token) is False     # stale token: EX
    assert client.get("c1") == "v2"
    assert client.delete("c1", cas_token=token) is False
    assert client.delete("c1", cas_token=client.get_cas("c1")[1]) is True


def test_delta_counters(client):
    assert client.delta("n1", 1) is False                   # missing: NF
    assert client.delta_initialize("n1", 1, initial_value=10, initial_ttl=60) is True
    assert client.delta_and_get("n1", 5) == 15
    assert client.delta_and_get("n1", -20) == 0             # decr floors at 0
    assert client.delta_initialize_and_get("n2", 3, initial_value=7, initial_ttl=60) == 7
    assert client.delta_and_get("n2", 3) == 10
    client.set("n3", "abc", ttl=60)
    with pytest.raises(Exception):
        client.delta("n3", 1)                               # non-numeric: CLIENT_ERROR


def test_lease_on_miss_one_winner(server):
    a, b = make_client(*server), make_client(*server)
    policy = LeasePolicy(ttl=30, miss_retries=2, miss_retry_wait=0.01)
    # a wins the lease (mg N: empty item + W) and sees a miss
    assert a.get_or_lease("lease1", lease_policy=policy, lease_wait_fn=no_wait) is None
    # b finds the placeholder (Z) and, out of retries, also sees a miss without winning
    flags = RequestFlags(return_value=True, vivify_on_miss_ttl=30)
    lost = b.meta_get(Key("lease1"), flags=flags)
    assert isinstance(lost, Value) and lost.size == 0 and lost.flags.win is False
    assert a.set("lease1", "fresh", ttl=60) is True
    assert b.get_or_lease("lease1", lease_policy=policy, lease_wait_fn=no_wait) == "fresh"


def test_recache_gives_one_client_the_win(client):
    client.set("rc1", "old", ttl=10)
    policy = RecachePolicy(ttl=30)              # remaining TTL 10 < 30: time to recache
    assert client.get("rc1", recache_policy=policy) is None         # W: the winner recaches
    assert client.get("rc1", recache_policy=policy) == "old"        # Z: others keep the value
    client.set("rc1", "new", ttl=100)
    assert client.get("rc1", recache_policy=policy) == "new"


def test_stale_on_delete_and_on_cas_mismatch(client):
    stale = StalePolicy(mark_stale_on_deletion_ttl=30, mark_stale_on_cas_mismatch=True)
    _, token = client.get_cas("st1")
    client.set("st1", "v1", ttl=60)
    _, token = client.get_cas("st1")
    assert client.delete("st1", stale_policy=stale) is True         # md I T30
    first = client.meta_get(Key("st1"), flags=RequestFlags(return_value=True))
    assert first.flags.stale and first.flags.win                    # X W
    second = client.meta_get(Key("st1"), flags=RequestFlags(return_value=True))
    assert second.flags.stale and not second.flags.win              # Z X
    # a write with the pre-invalidation (lower) CAS is kept, but marked stale (ms I C<old>)
    assert client.set("st1", "late", ttl=60, cas_token=token, stale_policy=stale) is True
    third = client.meta_get(Key("st1"), flags=RequestFlags(return_value=True))
    assert third.flags.stale
    assert client.set("st1", "v2", ttl=60) is True
    assert client.meta_get(Key("st1"), flags=RequestFlags(return_value=True)).flags.stale \
        is False


def test_quiet_pipeline_ends_with_mn(server):
    conn = Conn(*server)
    conn.send(b"".join(b"ms qp%d 1 q\r\n%d\r\n" % (i, i % 10) for i in range(50))
              + b"".join(b"mg qp%d q v k\r\n" % i for i in range(0, 60, 2)) + b"mn\r\n")
    reply = conn.read_until(b"MN\r\n")
    assert reply.count(b"VA 1 kqp") == 25
    assert b"EN" not in reply and b"HD" not in reply
