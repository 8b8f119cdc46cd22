"""The command line: exit statuses and messages, -h/-V, the -vv slab table, logging, -P and -d.

Expected texts come from /usr/bin/memcached 1.6.18 (`memcached -u root -vv -p 0 -U 0 ...`).
"""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memcache_py import main as daemon_cli
from memcache_py.settings import Settings
from tests.conftest import wait_until

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_TABLE = """\
slab class   1: chunk size        96 perslab   10922
slab class   2: chunk size       120 perslab    8738
slab class   3: chunk size       152 perslab    6898
slab class   4: chunk size       192 perslab    5461
slab class   5: chunk size       240 perslab    4369
slab class   6: chunk size       304 perslab    3449
slab class   7: chunk size       384 perslab    2730
slab class   8: chunk size       480 perslab    2184
slab class   9: chunk size       600 perslab    1747
slab class  10: chunk size       752 perslab    1394
slab class  11: chunk size       944 perslab    1110
slab class  12: chunk size      1184 perslab     885
slab class  13: chunk size      1480 perslab     708
slab class  14: chunk size      1856 perslab     564
slab class  15: chunk size      2320 perslab     451
slab class  16: chunk size      2904 perslab     361
slab class  17: chunk size      3632 perslab     288
slab class  18: chunk size      4544 perslab     230
slab class  19: chunk size      5680 perslab     184
slab class  20: chunk size      7104 perslab     147
slab class  21: chunk size      8880 perslab     118
slab class  22: chunk size     11104 perslab      94
slab class  23: chunk size     13880 perslab      75
slab class  24: chunk size     17352 perslab      60
slab class  25: chunk size     21696 perslab      48
slab class  26: chunk size     27120 perslab      38
slab class  27: chunk size     33904 perslab      30
slab class  28: chunk size     42384 perslab      24
slab class  29: chunk size     52984 perslab      19
slab class  30: chunk size     66232 perslab      15
slab class  31: chunk size     82792 perslab      12
slab class  32: chunk size    103496 perslab      10
slab class  33: chunk size    129376 perslab       8
slab class  34: chunk size    161720 perslab       6
slab class  35: chunk size    202152 perslab       5
slab class  36: chunk size    252696 perslab       4
slab class  37: chunk size    315872 perslab       3
slab class  38: chunk size    394840 perslab       2
slab class  39: chunk size    524288 perslab       2
"""

F2_N100_TABLE = """\
slab class   1: chunk size       152 perslab    6898
slab class   2: chunk size       304 perslab    3449
slab class   3: chunk size       608 perslab    1724
slab class   4: chunk size      1216 perslab     862
slab class   5: chunk size      2432 perslab     431
slab class   6: chunk size      4864 perslab     215
slab class   7: chunk size      9728 perslab     107
slab class   8: chunk size     19456 perslab      53
slab class   9: chunk size     38912 perslab      26
slab class  10: chunk size     77824 perslab      13
slab class  11: chunk size    155648 perslab       6
slab class  12: chunk size    524288 perslab       2
"""


class Recorder:
    """A stand-in for memcache_py.server.run that remembers the Settings it was given."""

    def __init__(self, status=0):
        self.calls: list[Settings] = []
        self.status = status

    def __call__(self, settings):
        self.calls.append(settings)
        return self.status


def run(argv, capsys, status=0):
    runner = Recorder(status)
    code = daemon_cli.main(argv, runner=runner)
    out, err = capsys.readouterr()
    return code, out, err, runner.calls


def test_runs_the_server_with_the_parsed_settings(capsys):
    code, out, err, calls = run(["-p", "22122", "-m", "128", "-c", "30"], capsys)
    assert (code, out, err) == (0, "", "")
    assert calls == [Settings(port=22122, memory_limit=128 * 1024 * 1024, max_connections=30)]


def test_returns_the_server_status(capsys):
    assert run([], capsys, status=71)[0] == 71
    assert run([], capsys, status=None)[0] == 0


@pytest.mark.parametrize("argv, status, message", [
    (["-m", "1"], 64, "Cannot set item size limit higher than 1/2 of memory max.\n"),
    (["-I", "1000"], 64, "Item max size cannot be less than 1024 bytes.\n"),
    (["-B", "http"], 64, "Invalid value for binding protocol: http\n"
                         " -- should be one of auto, binary, or ascii\n"),
    (["-c", "0"], 1, "Maximum connections must be greater than 0\n"),
    (["-t", "0"], 1, "Number of threads must be greater than 0\n"),
    (["-f", "1"], 1, "Factor must be greater than 1\n"),
    (["-n", "0"], 1, "Chunk size must be greater than 0\n"),
    (["-R", "0"], 1, "Number of requests per event must be greater than 0\n"),
    (["-o", "x"], 1, 'Illegal suboption "x"\n'),
    (["-Q"], 1, "memcached: invalid option -- 'Q'\nIllegal argument \"?\"\n"),
])
def test_bad_options_exit_before_the_server_starts(argv, status, message, capsys):
    code, out, err, calls = run(argv, capsys)
    assert (code, out, err, calls) == (status, "", message, [])


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag, capsys):
    assert run([flag], capsys)[:4] == (0, "memcached 1.6.18\n", "", [])


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag, capsys):
    code, out, err, calls = run([flag], capsys)
    assert (code, err, calls) == (0, "", [])
    assert "-p, --port=<num>" in out and "-vv" in out and "   - idle_timeout:" in out


def test_license(capsys):
    code, out, err, calls = run(["-i"], capsys)
    assert (code, err, calls) == (0, "", []) and "BSD" in out


def test_many_threads_warning_goes_to_stderr(capsys):
    code, out, err, calls = run(["-t", "65"], capsys)
    assert code == 0 and calls[0].threads == 65
    assert err == ("WARNING: Setting a high number of workerthreads is not recommended.\n"
                   " Set this value to the number of cores in your machine or less.\n")


def test_vv_prints_the_default_slab_table(capsys):
    code, out, err, calls = run(["-vv"], capsys)
    assert (code, out, err) == (0, "", DEFAULT_TABLE)


def test_vv_prints_the_table_for_f2_n100(capsys):
    assert run(["-vv", "-f", "2", "-n", "100"], capsys)[2] == F2_N100_TABLE


def test_vv_table_follows_slab_chunk_max(capsys):
    err = run(["-vvv", "-o", "slab_chunk_max=16384"], capsys)[2]
    assert err.splitlines()[-2:] == ["slab class  22: chunk size     11104 perslab      94",
                                     "slab class  23: chunk size     16384 perslab      64"]
    err = run(["-vv", "-o", "no_modern"], capsys)[2]
    assert err.splitlines()[-1] == "slab class  42: chunk size   1048576 perslab       1"


def test_single_v_prints_no_table(capsys):
    assert run(["-v"], capsys)[2] == ""


@pytest.mark.parametrize("argv, level", [
    ([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG),
])
def test_logging_level_follows_verbosity(argv, level, capsys):
    run(argv, capsys)
    logger = logging.getLogger("memcache_py")
    assert logger.level == level
    assert sum(isinstance(h, daemon_cli._StderrHandler) for h in logger.handlers) == 1


def test_log_records_reach_the_current_stderr(capsys):
    run(["-v"], capsys)
    logging.getLogger("memcache_py.test").info("hello %s", "there")
    assert capsys.readouterr().err == "hello there\n"


def test_pidfile_is_written_while_running_and_removed_after(tmp_path, capsys):
    pidfile = tmp_path / "mc.pid"
    seen = []

    def runner(settings):
        seen.append(pidfile.read_text())
        return 0

    assert daemon_cli.main(["-P", str(pidfile)], runner=runner) == 0
    assert seen == [f"{os.getpid()}\n"]
    assert not pidfile.exists()


def test_daemonize_detaches_and_writes_the_daemon_pid(tmp_path):
    pidfile, marker = tmp_path / "mc.pid", tmp_path / "marker"
    script = textwrap.dedent(f"""
        import os, sys
        from memcache_py import main as daemon_cli
        def runner(settings):
            import memcache_py.server   # a lazy import still works after chdir("/")
            with open({str(marker)!r} + ".tmp", "w") as f:
                f.write(f"{{os.getpid()}} {{os.getsid(0)}} {{os.getcwd()}} "
                        f"{{open({str(pidfile)!r}).read().strip()}}")
            os.rename({str(marker)!r} + ".tmp", {str(marker)!r})
            return 0
        sys.exit(daemon_cli.main(["-d", "-P", {str(pidfile)!r}], runner=runner))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=20)    # returns once the daemon has let go of the pipes
    assert (proc.returncode, out, err) == (0, "", "")
    wait_until(marker.exists, 10, 0.01)
    pid, sid, cwd, pid_in_file = marker.read_text().split()
    assert int(pid) != proc.pid and pid == pid_in_file
    assert int(sid) != int(pid)          # double fork: not a session leader, cannot get a tty
    assert cwd == "/"
    wait_until(lambda: not pidfile.exists(), 10, 0.01)
    assert not pidfile.exists()


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "memcache_py", "-V"], cwd=ROOT, timeout=20,
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "memcached 1.6.18\n", "")
    proc = subprocess.run([sys.executable, "-m", "memcache_py", "-c", "0"], cwd=ROOT,
                          timeout=20, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (1, "Maximum connections must be greater than 0\n")
