"""bench.stress end to end: a short run against a real server writes its JSON and PNG, and a
server that corrupts values is caught (exit status 1, corruption counted).

The real server is ours when `python -m memcache_py --help` exits 0, memcached otherwise.
"""

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest

from bench.stress.cli import main
from bench.stress.sampler import StatsSampler
from bench.stress.servers import (REPO_ROOT, ManagedServer, memcached_available, memcached_spec,
                                  ours_available)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_kind():
    if ours_available():
        return "ours"
    if memcached_available():
        return "memcached"
    pytest.skip("neither memcache_py nor memcached can be started")


def test_short_run_writes_json_and_png(tmp_path, server_kind):
    argv = [sys.executable, "-m", "bench.stress", "--server", server_kind, "--duration", "3",
            "-m", "8", "--keys", "20000", "--value-size", "64-2048", "--workers", "2",
            "--conns", "8", "--slow-readers", "1", "--slow-writers", "1", "--stall", "1",
            "--out-dir", str(tmp_path), "--name", "short", "--no-progress"]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CORRUPTED values" in done.stdout
    doc = json.loads((tmp_path / "short.json").read_text())
    assert doc["options"]["memory_mb"] == 8
    (run,) = doc["runs"]
    assert run["label"] == server_kind and not run["server_died"] and not run["crashes"]
    summary = run["summary"]
    assert summary["corrupt"] == 0 and summary["stale"] == 0
    assert summary["ops"] > 1000 and 0 < summary["hit_ratio"] < 1
    samples = run["samples"]
    assert len(samples) >= 3
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    server = samples[-1]["server"]
    assert server["curr_items"] > 0 and server["rss"] > 1 << 20
    assert server["limit_maxbytes"] == 8 << 20
    assert summary["evictions"] > 0            # 20 000 keys of ~1 KB do not fit in 8 MB
    assert run["latency"]["get"]["count"] > 0
    png = (tmp_path / "short.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_sampler_against_a_real_server(tmp_path):
    if not memcached_available():
        pytest.skip("memcached not installed")
    with ManagedServer(memcached_spec(["-m", "4"]), log_path=tmp_path / "mc.log") as server:
        sampler = StatsSampler(server.host, server.port)
        sample = sampler.sample(server.pid)
        sampler.close()
    assert sample["limit_maxbytes"] == 4 << 20
    assert sample["rss"] > 0 and sample["cpu_seconds"] >= 0
    assert isinstance(sample["pages"], dict) and sample["outofmemory"] == 0


# --------------------------------------------------------------------- a server that corrupts

class _CorruptingCache(asyncio.Protocol):
    """Just enough of memcached for the stress load; flips one byte of every 20th hit."""

    store: dict = {}
    hits = 0

    def connection_made(self, transport):
        self.transport, self.buf = transport, bytearray()

    def data_received(self, data):
        self.buf += data
        out = bytearray()
        while True:
            end = self.buf.find(b"\r\n")
            if end < 0:
                break
            words = bytes(self.buf[:end]).split()
            if words and words[0] == b"set":
                n = int(words[4])
                if len(self.buf) < end + 2 + n + 2:
                    break
                self.store[words[1]] = (int(words[2]), bytes(self.buf[end + 2:end + 2 + n]))
                del self.buf[:end + 2 + n + 2]
                out += b"STORED\r\n"
                continue
            del self.buf[:end + 2]
            out += self._command(words)
        self.transport.write(bytes(out))

    def _command(self, words):
        if words and words[0] == b"get":
            reply = bytearray()
            for key in words[1:]:
                if key in self.store:
                    flags, value = self.store[key]
                    _CorruptingCache.hits += 1
                    if _CorruptingCache.hits % 20 == 0:
                        value = value[:30] + bytes([value[30] ^ 0x10]) + value[31:]
                    reply += b"VALUE %b %d %d\r\n%b\r\n" % (key, flags, len(value), value)
            return bytes(reply) + b"END\r\n"
        if words and words[0] == b"delete":
            return b"DELETED\r\n" if self.store.pop(words[1], None) else b"NOT_FOUND\r\n"
        if words[:1] == [b"stats"] and len(words) == 1:
            return b"STAT pid %d\r\nSTAT curr_items %d\r\nEND\r\n" % (os.getpid(), len(self.store))
        return b"ERROR\r\n"


@pytest.fixture
def corrupting_server():
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_CorruptingCache, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    server.close()


def test_corruption_is_counted_and_fails_the_run(tmp_path, corrupting_server):
    rc = main(["--target", f"127.0.0.1:{corrupting_server}", "--duration", "2", "--keys", "200",
               "--value-size", "100-300", "--workers", "1", "--conns", "4", "--rate", "3000",
               "--ttl", "0", "--slow-readers", "0", "--slow-writers", "0",
               "--out-dir", str(tmp_path), "--no-progress", "--no-png"])
    assert rc == 1
    summary = json.loads((tmp_path / "stress.json").read_text())["runs"][0]["summary"]
    assert summary["corrupt"] > 0
    assert summary["verdicts"] == {"corrupt_body": summary["corrupt"]}
    assert summary["hit_ratio"] > 0.5


def test_short_run_over_tls_against_both(tmp_path):
    """--tls-cert/--tls-key/--tls-ca: both servers started with -Z, load and stats over TLS."""
    if not (ours_available() and memcached_available()):
        pytest.skip("needs both memcache_py and memcached")
    from tests.certs import make_pki
    pki = make_pki(tmp_path)
    argv = [sys.executable, "-m", "bench.stress", "--compare-memcached", "--duration", "2",
            "-m", "8", "--keys", "5000", "--value-size", "64-1024", "--workers", "1",
            "--conns", "4", "--slow-readers", "1", "--slow-writers", "1", "--stall", "1",
            "--tls-ca", str(pki.ca), "--tls-cert", str(pki.server_cert),
            "--tls-key", str(pki.server_key), "--out-dir", str(tmp_path), "--name", "tls",
            "--no-progress", "--no-png"]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "tls.json").read_text())
    assert [r["label"] for r in doc["runs"]] == ["ours", "memcached"]
    for run in doc["runs"]:
        assert "-Z" in run["argv"]
        s = run["summary"]
        assert s["ops"] > 100 and s["corrupt"] == 0 and s["stale"] == 0
        assert run["samples"][-1]["server"]["curr_items"] > 0     # stats came over TLS
