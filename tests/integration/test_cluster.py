"""Scale-out (issue #9): several instances behind twemproxy (nutcracker), and pymemcache's
HashClient over the same instances without a proxy.

Each test starts its own instances (ours; `--server=memcached` runs the same tests against
real memcached) with `bench.cluster.Cluster` on free ephemeral ports and stops them in a
finally. Skipped, with the reason, where nutcracker is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from bench.cluster import REPO_ROOT, Cluster, ProxySettings, free_ports, nutcracker_binary

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(nutcracker_binary() is None,
                       reason="nutcracker (twemproxy) is not installed: "
                              "apt-get install nutcracker (.ci/run does)"),
]

N_KEYS = 2000
WAIT = 8.0                   # bound of every wait for the proxy or a client to notice a death
# Tests run far shorter than the retry timeout, so an ejected instance is not probed again
# mid-test (a probe of a dead instance costs `server_failure_limit` errors; docs/scaling.md).
PROXY = ProxySettings(timeout_ms=2000, server_retry_timeout_ms=60000, server_failure_limit=2)


@pytest.fixture
def server_cmd(request):
    return "memcached" if request.config.getoption("--server") == "memcached" else "ours"


@pytest.fixture
def make_cluster(tmp_path, server_cmd):
    started: list[Cluster] = []

    def make(n: int = 3) -> Cluster:
        ports = free_ports(n + 2)
        cluster = Cluster(ports[:n], ports[n], tmp_path / f"cluster{len(started)}",
                          memory_mb=16, server_cmd=server_cmd, proxy=PROXY,
                          stats_port=ports[n + 1])
        started.append(cluster)
        return cluster.start()

    yield make
    for cluster in started:
        cluster.stop()


def client(address) -> Client:
    return Client(address, default_noreply=False, connect_timeout=2, timeout=5)


def make_values(n: int = N_KEYS, seed: int = 9) -> dict[str, bytes]:
    """Keys named like real ones (a varying id, then a run tag); values of many sizes, some
    holding CRLF and `END`, a few bigger than a 16 KB mbuf of the proxy."""
    rng = random.Random(seed)
    tag = "%06x" % rng.getrandbits(24)
    values = {}
    for i in range(n):
        size = 300_000 if i % 500 == 7 else rng.choice((1, 10, 100, 1000, 3000))
        body = rng.randbytes(size)
        if i % 3 == 0:
            body = body[: size // 2] + b"\r\nEND\r\n" + body[size // 2:]
        values[f"c{i}:{tag}"] = body
    return values


def owners(cluster: Cluster, keys) -> dict[str, int]:
    """Which instance holds each key, asked of every live instance directly."""
    where: dict[str, int] = {}
    for i, child in enumerate(cluster.instances):
        if not child.alive():
            continue
        c = client(cluster.addresses[i])
        try:
            for key in c.get_many(list(keys)):
                assert key not in where, f"{key} on instances {where[key]} and {i}"
                where[key] = i
        finally:
            c.close()
    return where


def stat(address, name: str) -> int:
    c = client(address)
    try:
        return c.stats()[name.encode()]
    finally:
        c.close()


def assert_spread(cluster: Cluster, n: int) -> None:
    counts = [stat(a, "curr_items") for a in cluster.addresses]
    assert sum(counts) == n, counts
    assert min(counts) >= n // 10, f"keys badly spread over the instances: {counts}"


# --- through the proxy ---------------------------------------------------------------------------

def test_proxy_spreads_keys_and_forwards_every_command(make_cluster):
    cluster = make_cluster(3)
    values = make_values()
    c = client(cluster.proxy_address)
    try:
        assert c.set_many(values) == []
        # one multi-key get of all keys: twemproxy splits it by server and merges the replies
        got = c.get_many(list(values))
        assert got.keys() == values.keys()
        assert all(got[k] == v for k, v in values.items())
        hits = [stat(a, "get_hits") for a in cluster.addresses]
        assert all(h > 0 for h in hits), f"the multi-get did not reach every instance: {hits}"
        assert sum(hits) == len(values)
        assert_spread(cluster, len(values))
        where = owners(cluster, values)
        assert len(where) == len(values)

        keys = list(values)
        # touch first: its expiry is checked at the end
        assert c.set("t:short", b"x", expire=0)
        assert c.touch("t:short", 1) is True
        assert c.touch("t:missing", 10) is False

        # gets / cas across servers
        sample = [k for k in keys if where[k] == 0][:2] + [k for k in keys if where[k] == 2][:2]
        casd = c.gets_many(sample)
        assert {k: v for k, (v, _) in casd.items()} == {k: values[k] for k in sample}
        k0, k1 = sample[0], sample[-1]
        value, token = c.gets(k0)
        assert value == values[k0]
        assert c.cas(k0, b"new0", token) is True
        assert c.cas(k0, b"newer", token) is False          # stale token: EXISTS
        assert c.get(k0) == b"new0"
        assert c.cas("t:nokey", b"x", b"1") is None         # NOT_FOUND
        _, t1 = c.gets(k1)
        assert c.cas(k1, b"swapped", t1) is True and c.get(k1) == b"swapped"

        # incr / decr
        assert c.set("t:counter", b"10")
        assert c.incr("t:counter", 5) == 15
        assert c.decr("t:counter", 20) == 0
        assert c.incr("t:counter", 2**64 - 1) == 2**64 - 1
        assert c.incr("t:counter", 1) == 0                  # wraps at 64 bits
        assert c.incr("t:nocounter", 1) is None

        # add / replace / append / prepend
        assert c.add("t:a", b"first") is True
        assert c.add("t:a", b"second") is False
        assert c.replace("t:a", b"replaced") is True
        assert c.replace("t:nope", b"x") is False
        assert c.append("t:a", b">>") is True
        assert c.prepend("t:a", b"<<") is True
        assert c.get("t:a") == b"<<replaced>>"
        assert c.append("t:nope", b"x") is False

        # noreply, version
        assert c.set("t:nr", b"quiet", noreply=True) is True
        assert c.get("t:nr") == b"quiet"
        assert c.version()

        # delete
        k2 = keys[5]
        assert c.delete(k2) is True
        assert c.get(k2) is None
        assert c.delete(k2) is False
        rest = keys[6:]
        got = c.get_many(rest)
        assert all(got[k] == values[k] for k in rest if k not in (k0, k1))

        # the touched item expires within a bounded wait
        deadline = time.monotonic() + 4
        while c.get("t:short") is not None:
            assert time.monotonic() < deadline, "touch 1 s: still there after 4 s"
            time.sleep(0.1)
    finally:
        c.close()


def test_proxy_ejects_a_killed_instance_misses_not_errors(make_cluster):
    cluster = make_cluster(3)
    values = make_values(seed=11)
    keys = list(values)
    c = client(cluster.proxy_address)
    try:
        assert c.set_many(values) == []
        where = owners(cluster, values)
        victim = 1
        lost = [k for k in keys if where[k] == victim]
        kept = [k for k in keys if where[k] != victim]
        assert lost and kept
        rng = random.Random(3)

        # a client that reads random keys; the instance dies mid-run
        errors, ejected_after = [], None
        for _ in range(300):
            k = rng.choice(keys)
            assert c.get(k) == values[k]
        cluster.kill_instance(victim)
        killed = time.monotonic()
        while ejected_after is None:
            assert time.monotonic() - killed < WAIT, f"no ejection after {WAIT} s: {errors}"
            k = rng.choice(lost)
            try:
                if c.get(k) is None:
                    ejected_after = time.monotonic() - killed
            except Exception as exc:                  # the failures that eject it
                errors.append(repr(exc))
                c.close()
                time.sleep(0.01)
        assert len(errors) <= PROXY.server_failure_limit + 1, errors

        # ejected: every request goes to the other two; no errors from here on (for at
        # least 1.5 s and 1500 requests)
        quiet_until, n = time.monotonic() + 1.5, 0
        while n < 1500 or time.monotonic() < quiet_until:
            k = rng.choice(keys)
            got = c.get(k)
            assert got == (values[k] if where[k] != victim else None), (k, where[k])
            n += 1
        got = c.get_many(keys)                       # a multi-get that spanned the dead one
        assert got.keys() == set(kept)
        assert all(got[k] == values[k] for k in kept)

        # sets keep working: the lost share lands on the survivors, the rest stays put
        assert c.set_many({k: values[k] for k in lost}) == []
        got = c.get_many(keys)
        assert got.keys() == values.keys() and all(got[k] == values[k] for k in keys)
        moved = owners(cluster, keys)
        assert all(moved[k] == where[k] for k in kept), "ketama moved keys of live instances"
        assert {moved[k] for k in lost} <= {0, 2}

        deadline = time.monotonic() + 3                # the proxy's own account of it
        while (cluster.proxy_stats().get("memcache_py", {}).get("server_ejects", 0) < 1):
            assert time.monotonic() < deadline, cluster.proxy_stats()
            time.sleep(0.2)
    finally:
        c.close()


# --- HashClient, no proxy ------------------------------------------------------------------------

def test_hash_client_spreads_and_survives_a_killed_instance(make_cluster):
    cluster = make_cluster(3)
    cluster.proxy_proc.stop()                          # no proxy in this one
    # pymemcache's documented failover knobs: with ignore_exc a failing server reads as a
    # miss; after retry_attempts failures retry_timeout apart it is marked dead and dropped
    # from the hash ring for dead_timeout seconds.
    hc = HashClient(cluster.addresses, default_noreply=False, connect_timeout=1, timeout=2,
                    ignore_exc=True, retry_attempts=1, retry_timeout=0.2, dead_timeout=60)
    values = make_values(seed=13)
    keys = list(values)
    try:
        assert hc.set_many(values) == []
        got = hc.get_many(keys)
        assert got.keys() == values.keys() and all(got[k] == values[k] for k in keys)
        assert_spread(cluster, len(values))
        where = owners(cluster, keys)
        victim = 1
        lost = [k for k in keys if where[k] == victim]
        kept = [k for k in keys if where[k] != victim]

        rng = random.Random(5)
        for _ in range(300):
            k = rng.choice(keys)
            assert hc.get(k) == values[k]
        cluster.kill_instance(victim)
        # no exception escapes from here on: the dead share reads as misses
        for _ in range(600):
            k = rng.choice(keys)
            assert hc.get(k) == (values[k] if where[k] != victim else None)
        got = hc.get_many(keys)
        assert got.keys() == set(kept) and all(got[k] == values[k] for k in kept)

        # once marked dead, sets of the lost share land on the survivors
        deadline = time.monotonic() + WAIT
        while not hc.set(lost[0], values[lost[0]]):
            assert time.monotonic() < deadline, "the dead instance was never dropped"
            time.sleep(0.05)
        assert hc.set_many({k: values[k] for k in lost}) == []
        got = hc.get_many(keys)
        assert got.keys() == values.keys() and all(got[k] == values[k] for k in keys)
        moved = owners(cluster, keys)
        assert all(moved[k] == where[k] for k in kept), "keys of live instances moved"
    finally:
        hc.close()


# --- the launcher --------------------------------------------------------------------------------

def test_launcher_runs_the_cluster_and_stops_it_on_sigint(tmp_path, server_cmd):
    ports = free_ports(2)
    base = next((p for p in free_ports(20)                # two consecutive free ports
                 if p < 65535 and p + 1 not in ports and _free_pair(p)), None)
    assert base is not None
    argv = [sys.executable, "-m", "bench.cluster", "--instances", "2", "--base-port", str(base),
            "--proxy-port", str(ports[0]), "--stats-port", str(ports[1]), "--memory", "8",
            "--server-cmd", server_cmd, "--workdir", str(tmp_path)]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pids = []
    try:
        out = []
        deadline = time.monotonic() + 40
        for line in proc.stdout:                        # ends at EOF if the launcher dies
            out.append(line)
            if " pid " in line:
                pids.append(int(line.split(" pid ")[1].split()[0]))
            if "Ctrl-C" in line or time.monotonic() > deadline:
                break
        assert len(pids) == 3, "".join(out)
        conf = (tmp_path / "nutcracker.yml").read_text()
        for needle in ("distribution: ketama", "hash: fnv1a_64", "auto_eject_hosts: true",
                       f"listen: 127.0.0.1:{ports[0]}", f"- 127.0.0.1:{base}:1",
                       f"- 127.0.0.1:{base + 1}:1"):
            assert needle in conf, conf
        c = client(("127.0.0.1", ports[0]))
        try:
            assert c.set("via-proxy", b"ok") and c.get("via-proxy") == b"ok"
        finally:
            c.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert "stopped" in proc.stdout.read()
        for pid in pids:                                # children of the launcher: reaped
            assert not _running(pid), f"pid {pid} still running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_pair(port: int) -> bool:
    import socket
    socks = []
    try:
        for p in (port, port + 1):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_tls_instances_behind_a_clear_text_proxy(tmp_path, server_cmd):
    """--tls-cert/--tls-key: nutcracker in clear text through the instances' notls
    listeners, the instances over TLS directly (Client, HashClient)."""
    from tests.certs import make_pki
    pki = make_pki(tmp_path)
    ports = free_ports(4)
    cluster = Cluster(ports[:2], ports[2], tmp_path / "tls-cluster", memory_mb=16,
                      server_cmd=server_cmd, proxy=PROXY, stats_port=ports[3],
                      tls=(str(pki.server_cert), str(pki.server_key)))
    with cluster:
        assert len(cluster.plain_ports) == 2 and not set(cluster.plain_ports) & set(ports)
        proxied = client(cluster.proxy_address)
        for i in range(200):
            assert proxied.set(f"t{i}", str(i))
        direct = [Client(a, tls_context=pki.client_context(), default_noreply=False,
                         connect_timeout=2, timeout=5) for a in cluster.addresses]
        for i in range(200):            # each key on exactly one instance, read over TLS
            assert [c.get(f"t{i}") for c in direct].count(str(i).encode()) == 1
        hashed = HashClient(cluster.addresses, tls_context=pki.client_context(),
                            default_noreply=False, connect_timeout=2, timeout=5)
        assert hashed.set("h", "1") and hashed.get("h") == b"1"
        plain = Client(cluster.addresses[0], connect_timeout=2, timeout=2)
        with pytest.raises(Exception):   # a TLS port does not answer clear text
            plain.version()
