"""The pytest plugin, as a project uses it: a test project run by pytester in a subprocess.

The plugin comes in through its `pytest11` entry point (the editable install), exactly as in a
project that only did `pip install memcache-py`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

USES_CLIENT = """
    def test_set_get(memcache_client, memcache_server):
        assert memcache_client.set("greeting", b"hello")
        assert memcache_client.get("greeting") == b"hello"
        assert memcache_server.address == f"127.0.0.1:{memcache_server.port}"
        assert memcache_server.stats()["curr_items"] == "1"

    def test_starts_empty(memcache_client):
        assert memcache_client.get("greeting") is None

    def test_cas_works(memcache_client):
        memcache_client.set("k", b"1")
        _, token = memcache_client.gets("k")
        assert memcache_client.cas("k", b"2", token)
        assert not memcache_client.cas("k", b"3", token)
        assert memcache_client.get("k") == b"2"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args,
                                         timeout=120)


def test_fixtures_from_the_entry_point(pytester):
    pytester.makepyfile(USES_CLIENT)
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_memcache_args_from_ini_and_the_command_line(pytester):
    pytester.makeini("[pytest]\nmemcache_args = -m 16 -I 2m\n")
    pytester.makepyfile("""
        import os
        def test_settings(memcache_server):
            settings = memcache_server.stats("settings")
            assert settings["maxbytes"] == str(int(os.environ["EXPECT_MB"]) * 1024 * 1024)
            assert settings["item_size_max"] == str(2 * 1024 * 1024)
            assert settings["evictions"] == os.environ["EXPECT_EVICTIONS"]
    """)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPECT_MB", "16")
        mp.setenv("EXPECT_EVICTIONS", "on")
        run(pytester).assert_outcomes(passed=1)
        mp.setenv("EXPECT_MB", "8")
        mp.setenv("EXPECT_EVICTIONS", "off")
        run(pytester, "--memcache-args=-m 8 -I 2m -M").assert_outcomes(passed=1)


def test_marker_gives_a_test_its_own_server(pytester):
    pytester.makepyfile("""
        import pytest
        from pymemcache.exceptions import MemcacheServerError

        def test_shared(memcache_client, memcache_server, memcache_test_server):
            assert memcache_test_server is memcache_server
            memcache_client.set("shared", b"x")

        @pytest.mark.memcache_args("-m 2 -M")
        def test_own(memcache_client, memcache_server, memcache_test_server):
            assert memcache_test_server.port != memcache_server.port
            assert memcache_test_server.stats("settings")["evictions"] == "off"
            value = b"v" * 100_000
            with pytest.raises(MemcacheServerError, match="out of memory"):
                for i in range(100):        # -m 2 -M: the second page's worth runs out
                    memcache_client.set(f"k{i}", value)

        @pytest.mark.memcache_args(conn_limit=5)
        def test_own_with_keywords(memcache_test_server):
            assert memcache_test_server.stats("settings")["maxconns"] == "5"
    """)
    run(pytester).assert_outcomes(passed=3)


def test_bad_memcache_args_is_one_clear_line(pytester):
    pytester.makepyfile(USES_CLIENT)
    result = run(pytester, "--memcache-args=-m 1 -I 2m")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: memcache_args '-m 1 -I 2m': Cannot set item size "
                                 "limit higher than 1/2 of memory max."])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_bad_marker_args_fail_the_test_with_the_message(pytester):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.memcache_args("-c 0")
        def test_bad(memcache_client):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*memcache_args ' -c 0': Maximum connections must be greater "
                                 "than 0*"])
    assert "Traceback" not in result.stdout.str()


def test_a_server_per_xdist_worker(pytester):
    pytester.makepyfile(USES_CLIENT + """
    import os
    import pytest

    @pytest.mark.parametrize("i", range(6))
    def test_port_of_worker(memcache_server, i):
        out = os.environ["PORTS_DIR"]
        name = os.environ["PYTEST_XDIST_WORKER"]
        with open(os.path.join(out, name), "a") as f:
            f.write(f"{memcache_server.port}\\n")
    """)
    ports_dir = pytester.mkdir("ports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PORTS_DIR", str(ports_dir))
        result = run(pytester, "-n", "2", "--dist", "each")   # every test on each worker
    result.assert_outcomes(passed=18)
    per_worker = {p.name: set(p.read_text().split()) for p in ports_dir.iterdir()}
    assert set(per_worker) == {"gw0", "gw1"}
    assert all(len(ports) == 1 for ports in per_worker.values())      # started once per worker
    assert per_worker["gw0"] != per_worker["gw1"]


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":      # session id, not a zombie
            pids.append(int(entry.name))
    return pids


def _port_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_an_interrupted_run_leaves_nothing_behind(pytester, workers):
    pytester.makepyfile("""
        import os, time
        import pytest

        @pytest.mark.parametrize("i", range(2))
        def test_hangs(memcache_client, memcache_server, i):
            memcache_client.set("k", b"v")
            name = os.environ.get("PYTEST_XDIST_WORKER", "main") + f"-{i}"
            path = os.path.join(os.environ["PORTS_DIR"], name)
            with open(path + ".tmp", "w") as f:
                f.write(str(memcache_server.port))
            os.rename(path + ".tmp", path)
            time.sleep(120)
    """)
    ports_dir = pytester.mkdir("ports")
    env = dict(os.environ, PORTS_DIR=str(ports_dir))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "-p", "no:randomly", "-q", *workers], cwd=pytester.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        expected = 2 if workers else 1
        assert wait_until(lambda: len(list(ports_dir.iterdir())) >= expected, 60, 0.05), \
            "the tests never started"
        ports = {int(p.read_text()) for p in ports_dir.iterdir()}
        assert not any(_port_free(p) for p in ports)
        os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C: the whole foreground group
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    assert wait_until(lambda: not _session_pids(proc.pid), 10, 0.05), _session_pids(proc.pid)
    assert all(_port_free(p) for p in ports)
