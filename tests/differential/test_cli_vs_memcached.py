"""The command line against the real memcached 1.6.18: the same argv, the same outcome.

Compares exit statuses and stderr of rejected options, the -vv slab class table, and the
`stats settings` lines (memcached runs with `-o no_modern`, the flat-LRU mode this daemon
reproduces). Skipped when /usr/bin/memcached is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from memcache_py import main as daemon_cli
from memcache_py.settings import parse_settings, settings_stats

pytestmark = pytest.mark.differential

MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
if not shutil.which(MEMCACHED):
    pytest.skip(f"{MEMCACHED} not installed", allow_module_level=True)

AS_ROOT = ["-u", "root"] if os.geteuid() == 0 else []
# memcached prints these only in extstore builds; this daemon has no extstore (TLS: tls.py).
BUILD_ONLY = ("ext_", "slab_automove_freeratio")


def memcached(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    # argv[0] "memcached": getopt prefixes its messages with it
    return subprocess.run(["memcached", *AS_ROOT, *argv], executable=MEMCACHED,
                          capture_output=True, text=True, timeout=timeout)


def ours(argv: list[str], capsys) -> tuple[int, str]:
    code = daemon_cli.main(argv, runner=lambda settings: 0)
    return code, capsys.readouterr().err


REJECTED = [
    ["-m", "1"], ["-m", "0"], ["-m", "abc"], ["-I", "1000"], ["-I", "1025"], ["-I", "1k"],
    ["-I", "2g"], ["-I", "1m5"], ["-I", "40m"], ["-I", "1025m", "-m", "4096"], ["-I", "1100k"],
    ["-I", "512k", "-o", "no_modern"], ["-o", "slab_chunk_max=1000"],
    ["-o", "slab_chunk_max=3000", "-I", "3000"], ["-o", "slab_chunk_max=2000000"],
    ["-B", "http"], ["-c", "0"], ["-c", "-1"], ["-t", "0"], ["-f", "1"], ["-f", "abc"],
    ["-n", "0"], ["-R", "0"], ["-p", "65536"], ["-t", "65", "-c", "0"],
    ["-o", "foo"], ["-o", "foo=bar"], ["-o", "idle_timeout=1,,track_sizes"], ["-o", "=5"],
    ["-o", "idle_timeout"], ["-o", "hashpower=5"], ["-o", "hashpower=33"], ["-o", "hashpower"],
    ["-o", "slab_automove=3"], ["-o", "slab_automove_ratio=0"], ["-o", "slab_automove_window=2"],
    ["-o", "hot_lru_pct=80"], ["-o", "warm_lru_pct=0"], ["-o", "hot_max_factor=0"],
    ["-o", "warm_max_factor"], ["-o", "tail_repair_time=5"], ["-o", "temporary_ttl"],
    ["-o", "hash_algorithm=foo"], ["-o", "lru_crawler_sleep=2000000"],
    ["-o", "lru_crawler_tocrawl=-1"], ["-o", "watcher_logbuf_size=abc"],
    ["-o", "read_buf_mem_limit"], ["-o", "hot_lru_pct=50,warm_lru_pct=40"],
    ["-o", "no_modern,temporary_ttl=30"], ["-c", "0", "-B", "x"], ["-B", "x", "-c", "0"],
    ["-m", "1", "-c", "0"], ["-p", "70000", "-m", "1"],
    ["-p", "70000", "-o", "no_modern,temporary_ttl=30"], ["-Q"], ["--fooble"],
]


@pytest.mark.parametrize("argv", REJECTED, ids=" ".join)
def test_rejected_options(argv, capsys):
    ref = memcached(["-p", "0", "-U", "0", *argv])
    assert ours(["-p", "0", "-U", "0", *argv], capsys) == (ref.returncode, ref.stderr)


@pytest.mark.parametrize("argv", [["-V"], ["--version"]])
def test_version(argv, capsys):
    ref = memcached(argv)
    assert daemon_cli.main(argv) == ref.returncode == 0
    assert capsys.readouterr().out == ref.stdout


@pytest.mark.parametrize("flags", [
    [], ["-f", "2", "-n", "100"], ["-f", "1.1"], ["-n", "5"], ["-o", "slab_chunk_max=16384"],
    ["-o", "no_modern"], ["-I", "4m", "-m", "64"], ["-C"], ["-f", "3", "-o", "no_modern"],
])
def test_vv_slab_class_table(flags, capsys):
    # A UNIX socket in a missing directory makes memcached print the table, then exit 71.
    ref = memcached(["-vv", "-U", "0", "-s", "/nonexistent-dir/x.sock", *flags])
    assert ref.returncode == 71
    table = [line for line in ref.stderr.splitlines() if line.startswith("slab class")]
    assert len(table) > 1
    assert ours(["-vv", *flags], capsys) == (0, "\n".join(table) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memcached_stats_settings(argv: list[str]) -> list[tuple[str, str]]:
    port = free_port()
    proc = subprocess.Popen([MEMCACHED, *AS_ROOT, "-U", "0", "-l", "127.0.0.1", "-p", str(port),
                             *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        with conn:
            conn.sendall(b"stats settings\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                chunk = conn.recv(65536)
                assert chunk, "memcached closed the connection"
                buf += chunk
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lines = [line.split(" ", 2)[1:] for line in buf.decode().splitlines()[:-1]]
    return [(k, v) for k, v in lines if not k.startswith(BUILD_ONLY)]


@pytest.mark.parametrize("flags", [
    [],
    ["-vv", "-D", "#", "-B", "ascii", "-a", "777", "-M", "-C", "-A", "-F", "-X", "-b", "50",
     "-R", "7", "-t", "2", "-c", "99", "-f", "1.5", "-n", "40", "-m", "100", "-I", "2m"],
    ["-o", "lru_maintainer,idle_timeout=7,track_sizes,hashpower=20,temporary_ttl=30,"
           "tail_repair_time=20,watcher_logbuf_size=10,read_buf_mem_limit=5,hot_lru_pct=10,"
           "warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3,lru_crawler_sleep=50,"
           "lru_crawler_tocrawl=9,slab_automove_ratio=0.5,slab_automove_window=5"],
    ["-o", "slab_chunk_max=65536,maxconns_fast,hash_algorithm=xxh3", "-I", "512k"],
], ids=["defaults", "flags", "suboptions", "chunk-max"])
def test_stats_settings_match_no_modern(flags):
    argv = ["-o", "no_modern", *flags]
    ref = memcached_stats_settings(argv)
    port = dict(ref)["tcpport"]
    mine = settings_stats(parse_settings([*argv, "-U", "0", "-l", "127.0.0.1", "-p", port]))
    if "lru_maintainer" in " ".join(flags):
        # memcached really starts the segmented LRU again; this daemon keeps its flat LRU.
        ref = [(k, {"lru_maintainer_thread": "no", "lru_segmented": "no", "temp_lru": "no"}
                .get(k, v)) for k, v in ref]
    assert mine == ref


def test_stats_settings_default_mode_differs_only_in_background_threads():
    ref = dict(memcached_stats_settings([]))
    mine = dict(settings_stats(parse_settings(["-U", "0", "-l", "127.0.0.1",
                                               "-p", ref["tcpport"]])))
    assert list(mine) == list(ref)
    # the page mover, automove and the LRU crawler are on by default, as memcached's
    assert {k for k in ref if ref[k] != mine[k]} == {"lru_maintainer_thread", "lru_segmented"}
