"""The documents in docs/ cannot drift from the code.

* docs/compatibility.md is generated (tools/gen_compat.py): regenerating it must give the
  committed file.
* Every ```console block in docs/*.md is run, one bash per block: a daemon the block starts
  gets an ephemeral port in place of 11211, /tmp/ becomes a temporary directory, and each `$ `
  command's output is compared with the lines under it (`...` skips lines, `*` in a line
  matches anything). Only commands of the known-safe forms in SAFE may appear there.
* Commands in other fenced shell blocks (```sh) cannot run here (sudo, systemctl, a package
  install, long runs): each must be listed in NOT_RUN_HERE with the test or CI step that covers
  what it does.
* deploy/memcache-py.service parses, its ExecStart flags are accepted by parse_settings,
  `systemd-analyze verify` finds nothing wrong, and the command serves and exits 0 on its
  KillSignal; the install recipe of docs/operations.md produces a working `memcache-py`.
* memcached-tool (Debian's) and the keys Prometheus' memcached_exporter needs work against
  the daemon.
"""

from __future__ import annotations

import configparser
import dataclasses
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
UNIT_FILE = ROOT / "deploy" / "memcache-py.service"
MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"
DOC_PORT = "11211"

unit = pytest.mark.unit
integration = pytest.mark.integration


# ---- reading the documents -------------------------------------------------------------------

@dataclasses.dataclass
class Command:
    text: str                      # the command, continuation lines joined with "\n"
    expected: list[str]            # output lines shown under it
    where: str                     # file:line


@dataclasses.dataclass
class Block:
    info: str                      # the fence's info string: console, sh, ...
    commands: list[Command]
    where: str

    @property
    def id(self) -> str:
        return self.where


def _complete(text: str) -> bool:
    """Whether a shell command is complete (no open quote, no trailing backslash)."""
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def parse_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(`{3,})(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2), i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i])
            i += 1
        i += 1
        commands: list[Command] = []
        j = 0
        while j < len(body):
            line = body[j]
            if line.startswith("$ "):
                text, where = line[2:], f"{path.name}:{start + j + 1}"
                while not _complete(text) and j + 1 < len(body):
                    j += 1
                    text += "\n" + body[j]
                commands.append(Command(text, [], where))
            elif commands:
                commands[-1].expected.append(line)
            j += 1
        blocks.append(Block(info, commands, f"{path.name}:{start}"))
    return blocks


def all_blocks() -> list[Block]:
    return [b for p in sorted(DOCS.glob("*.md")) for b in parse_blocks(p)]


CONSOLE = [b for b in all_blocks() if b.info == "console" and b.commands]
SHELL_INFOS = {"sh", "bash", "shell"}


# ---- what may run, and what may only be shown ---------------------------------------------------

PIPE_TAIL = r"(?: \| (?:grep|head|tail|sort)(?: (?:-\w+|'[^'`$]*'|[\w.:-]+))*)*"
SAFE = [
    # the daemon: in the background with its output in a file, or a call that exits by itself
    r"memcache-py [-\w .=,/:]*",
    r"memcache-py [-\w .=,/:]* 2>/tmp/[\w.-]+ &",
    r"memcache-py [-\w .=,/:]*; echo \"exit \$\?\"",
    r"python -m memcache_py [-\w .=,/:]*(?:; echo \"exit \$\?\")?",
    # the interactive client, a command as arguments or on stdin, against the daemon here
    r"memcache-cli 127\.0\.0\.1:11211(?: [-\w.:]+)*(?:; echo \"exit \$\?\")?" + PIPE_TAIL,
    r"printf '[^'`$]*' \| memcache-cli 127\.0\.0\.1:11211(?:; echo \"exit \$\?\")?",
    # a Python snippet (its addresses are checked below)
    r"python -c \"[^\"]*\"" + PIPE_TAIL,
    # the tools, against the daemon on this machine
    re.escape(MEMCACHED_TOOL) + r" 127\.0\.0\.1:11211 (?:display|stats|settings)" + PIPE_TAIL,
    r"cat (?:/tmp/[\w.-]+|deploy/memcache-py\.service)" + PIPE_TAIL,
    r"kill -(?:TERM|INT) \$!; wait \$!(?:; echo \"exit \$\?\")?",
    r"python tools/gen_compat\.py --check",
    # replay and its trace generator, on files under /tmp/
    r"python -m memcache_py\.replay(?:\.generate)? [-\w .=,/:]*" + PIPE_TAIL,
    r"python -m bench\.stress (?:[-\w.=,]+ )*--duration [1-9] (?:[-\w./=,]+ ?)*" + PIPE_TAIL,
]

# Commands shown in ```sh blocks, which a test cannot run here, and what covers them.
NOT_RUN_HERE = {
    "sudo apt-get install -y python3-venv make memcached": "CI (.ci/run installs memcached)",
    "sudo python3 -m venv /opt/memcache-py": "test_install_recipe",
    "sudo /opt/memcache-py/bin/pip install .": "test_install_recipe",
    "sudo ln -sf /opt/memcache-py/bin/memcache-py /usr/local/bin/memcache-py":
        "test_install_recipe",
    "sudo cp deploy/memcache-py.service /etc/systemd/system/": "test_unit_file_systemd_verify",
    "sudo systemctl daemon-reload": "test_unit_file_systemd_verify",
    "sudo systemctl enable --now memcache-py": "test_unit_file_execstart_serves_and_stops",
    "systemctl status memcache-py": "test_unit_file_execstart_serves_and_stops",
    "journalctl -u memcache-py -f": "test_logs_on_stderr",
    "sudo systemctl edit memcache-py": "test_unit_file_parses",
    "sudo systemctl restart memcache-py": "test_unit_file_execstart_serves_and_stops",
    "sudo systemctl stop memcache-py": "test_unit_file_execstart_serves_and_stops",
    "mkdir -p /tmp/memcached-shim && ln -sf \"$(command -v memcache-py)\" "
    "/tmp/memcached-shim/memcached": "tests/integration/test_launchers.py (the same shim)",
    "PATH=/tmp/memcached-shim:$PATH pifpaf run memcached --port 11212 -- python my_tests.py":
        "tests/integration/test_launchers.py::test_pifpaf_run_memcached",
    # docs/security.md: tests/integration/test_security_docs.py runs the recipe and the drop-in
    **{cmd: "tests/integration/test_security_docs.py::test_openssl_recipe_serves_tls" for cmd in (
        'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 '
        '-subj "/CN=test CA" -keyout ca.key -out ca.pem',
        'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" '
        '-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout server.key -out server.csr',
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
        "-copy_extensions copy -out server.pem",
        'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=a client" '
        "-keyout client.key -out client.csr",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
        "-out client.pem",
        "memcache-py -Z -o ssl_chain_cert=server.pem,ssl_key=server.key,ssl_verify_mode=2,"
        "ssl_ca_cert=ca.pem")},
    **{cmd: "tests/integration/test_security_docs.py::test_tls_dropin_serves" for cmd in (
        "sudo mkdir -p /etc/systemd/system/memcache-py.service.d",
        "sudo cp deploy/memcache-py-tls.conf /etc/systemd/system/memcache-py.service.d/tls.conf")},
    "(echo \"watch fetchers mutations\"; sleep 600) | nc 127.0.0.1 11211 > /tmp/trace.log":
        "tests/integration/test_replay_live.py (records a live run with watch, replays it)",
    "python -m memcache_py.replay /tmp/trace.log --memory 64,128,256,512 --growth-factor "
    "1.05,1.1,1.25 --json /tmp/grid.json --plot /tmp/grid.png":
        "tests/unit/test_replay_engine.py::test_cli_grid_json_and_plot (the same, generated)",
    "make install": "CI (make test runs make install)",
    ". .venv/bin/activate": "CI (make test runs the suite from .venv)",
    "make stress": "tests/integration/test_stress_run.py (the same tool, shorter)",
    'python -m bench.stress --compare-memcached'
    ' -m 16 --keys 40000 --size-shift 2000:15s,100 --duration 50 --slow-readers 0'
    ' --slow-writers 0': "tests/bench/test_stress_size_shift.py (the schedule and its table; "
    "tests/integration/test_slab_mover.py runs the tool against a moving daemon)",
    "make stress STRESS_ARGS=\"-M --duration 60\"": "tests/integration/test_stress_run.py",
    "memcached_exporter --memcached.address=127.0.0.1:11211":
        "test_exporter_view_of_stats (the exporter is not packaged in Debian)",
    "curl -s 127.0.0.1:9150/metrics | grep -E '^memcached_(up|current_items|items_evicted_total) '":
        "test_exporter_view_of_stats",
}


@unit
def test_docs_have_console_blocks():
    names = {b.where.split(":")[0] for b in CONSOLE}
    assert {"architecture.md", "operations.md"} <= names


@unit
@pytest.mark.parametrize("block", CONSOLE, ids=lambda b: b.id)
def test_console_commands_are_of_known_safe_forms(block):
    for cmd in block.commands:
        text = cmd.text.replace("\\\n", " ")
        assert any(re.fullmatch(p, text, re.DOTALL) for p in SAFE), \
            f"{cmd.where}: not a known-safe form: {cmd.text!r}"
        for addr in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", text):
            assert addr.startswith("127."), f"{cmd.where}: {addr} is not loopback"
        if text.startswith("memcache-py") and not text.endswith("&"):
            # in the foreground only calls that exit at once: -h, -V, rejected options
            from memcache_py.settings import InfoRequest, SettingsError, parse_settings
            argv = shlex.split(text.split(";")[0])[1:]
            with pytest.raises((InfoRequest, SettingsError)):
                parse_settings(argv, warn=lambda message: None)


@unit
def test_shell_blocks_list_only_commands_covered_elsewhere():
    shown = set()
    for block in all_blocks():
        if block.info not in SHELL_INFOS:
            continue
        for cmd in block.commands:
            shown.add(cmd.text)
            assert cmd.text in NOT_RUN_HERE, (
                f"{cmd.where}: {cmd.text!r} is not run by any test; make it a ```console "
                "command or add it to NOT_RUN_HERE with what covers it")
            covered_by = NOT_RUN_HERE[cmd.text]
            if covered_by.startswith("test_"):
                assert covered_by.split()[0] in globals(), covered_by
    assert not set(NOT_RUN_HERE) - shown, f"no longer in the docs: {set(NOT_RUN_HERE) - shown}"


# ---- running the console blocks -------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port}")


def shims(tmp: Path) -> Path:
    """A bin directory where `python`, `memcache-py` and `memcache-cli` run this checkout."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    for name, line in (("python", f'exec {sys.executable} "$@"'),
                       ("memcache-py", f'exec {sys.executable} -m memcache_py "$@"'),
                       ("memcache-cli", f'exec {sys.executable} -m memcache_py.cli "$@"')):
        path = bindir / name
        path.write_text(f"#!/bin/sh\n{line}\n")
        path.chmod(0o755)
    return bindir


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """`...` skips any number of lines; a line with `*` is a glob (only `*` is special)."""
    def same(e: str, a: str) -> bool:
        if "*" in e:
            return re.fullmatch(".*".join(re.escape(p) for p in e.split("*")), a) is not None
        return e == a

    def match(ei: int, ai: int) -> bool:
        if ei == len(expected):
            return ai == len(actual)
        if expected[ei] == "...":
            return any(match(ei + 1, k) for k in range(ai, len(actual) + 1))
        return ai < len(actual) and same(expected[ei], actual[ai]) and match(ei + 1, ai + 1)
    return match(0, 0)


def _clean(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def run_block(block: Block, tmp: Path) -> list[tuple[Command, list[str]]]:
    """Run a block's commands in one bash; their outputs, in order.

    A daemon the block starts in the background gets an ephemeral port (`-p -1`, reported
    through memcached's MEMCACHED_PORT_FILENAME), so no other process can hold its port; the
    block's 11211 becomes that port in the later commands, and back to 11211 in the output.
    """
    tmpdir = str(tmp) + "/"
    marker = "@@docs-command@@"
    script = [f"cd {shlex.quote(str(ROOT))}", "DOCPORT=11211"]
    for i, cmd in enumerate(block.commands):
        text = cmd.text.replace("/tmp/", tmpdir)
        script.append(f"echo {marker}{i}")
        if text.endswith("&"):
            portfile = f"{tmpdir}port.{i}"
            text = text.replace(f"-p {DOC_PORT}", "-p -1").replace(DOC_PORT, "${DOCPORT}")
            script += [
                f"MEMCACHED_PORT_FILENAME={portfile} {text}",
                f"for _ in $(seq 300); do [ -s {portfile} ] && break; sleep 0.05; done",
                f"DOCPORT=$(sed -n 's/^TCP INET: //p' {portfile})",
                f"echo {marker}port$DOCPORT"]
        else:
            script.append("{ " + text.replace(DOC_PORT, "${DOCPORT}") + "\n} 2>&1")
    script.append(f"echo {marker}end")
    script.append("for pid in $(jobs -p); do kill -TERM $pid; done; wait")
    env = dict(os.environ, PATH=f"{shims(tmp)}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"{block.where}: commands did not finish within 240 s")
    text = out.decode("utf-8", "replace").replace(tmpdir, "/tmp/")
    for port in set(re.findall(rf"^{re.escape(marker)}port(\d+)$", text, flags=re.M)):
        text = re.sub(rf"(?<!\d){port}(?!\d)", DOC_PORT, text)   # not inside other numbers
    text = re.sub(rf"^{re.escape(marker)}port.*\n", "", text, flags=re.M)
    parts = re.split(rf"^{re.escape(marker)}(\d+|end)$", text, flags=re.M)
    outputs: dict[int, list[str]] = {}
    for label, body in zip(parts[1::2], parts[2::2]):
        if label != "end":
            outputs[int(label)] = _clean(body.strip("\n").split("\n"))
    return [(cmd, outputs.get(i, [])) for i, cmd in enumerate(block.commands)]


@integration
@pytest.mark.parametrize("block", CONSOLE, ids=lambda b: b.id)
def test_console_block_runs_as_shown(block, tmp_path):
    if MEMCACHED_TOOL in "\n".join(c.text for c in block.commands) and \
            not os.access(MEMCACHED_TOOL, os.X_OK):
        pytest.skip("memcached-tool not installed (apt-get install memcached)")
    for cmd, actual in run_block(block, tmp_path):
        expected = _clean(cmd.expected)
        assert lines_match(expected, actual), (
            f"{cmd.where}: {cmd.text}\n--- shown in the doc\n" + "\n".join(expected)
            + "\n--- got\n" + "\n".join(actual))


@unit
def test_lines_match():
    assert lines_match(["a", "...", "d"], ["a", "b", "c", "d"])
    assert lines_match(["a", "..."], ["a", "b"])
    assert not lines_match(["a", "d"], ["a", "b", "d"])
    assert lines_match(["x *s y"], ["x     10s y"])
    assert not lines_match(["x [1]"], ["x 1"])


# ---- the generated compatibility table -------------------------------------------------------

def _gen_compat():
    spec = importlib.util.spec_from_file_location("gen_compat", ROOT / "tools" / "gen_compat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unit
def test_compatibility_md_is_up_to_date(tmp_path):
    gen = _gen_compat()
    if not (gen.shared_dir() / "spec" / "stats.md").exists():
        pytest.skip(f"reference specs not found in {gen.shared_dir()}")
    out = tmp_path / "compatibility.md"
    assert gen.main(["--out", str(out)]) == 0
    assert out.read_text() == (DOCS / "compatibility.md").read_text(), \
        "docs/compatibility.md is stale: run python tools/gen_compat.py"


@unit
def test_compatibility_lists_every_case_and_difference():
    cases, differs = _gen_compat().load_corpus()
    text = (DOCS / "compatibility.md").read_text()
    for corpus, c in cases:
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| `{c.name}` | {corpus} |"))
        assert row.endswith("| same |") != (c.name in differs), row


# ---- the systemd unit ------------------------------------------------------------------------

def read_unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str              # systemd keys are case-sensitive
    parser.read_string(UNIT_FILE.read_text())
    return parser


def exec_start() -> list[str]:
    return shlex.split(read_unit()["Service"]["ExecStart"])


@unit
def test_unit_file_parses():
    unit_file = read_unit()
    assert set(unit_file.sections()) == {"Unit", "Service", "Install"}
    service = unit_file["Service"]
    assert exec_start()[0] == "/usr/local/bin/memcache-py"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service.get("DynamicUser") == "yes" or service.get("User")
    assert int(service["LimitNOFILE"]) > 1024          # -c 1024 clients plus listeners and logs
    assert unit_file["Install"]["WantedBy"] == "multi-user.target"


@unit
def test_unit_file_flags_are_accepted():
    from memcache_py.settings import parse_settings
    settings = parse_settings(exec_start()[1:])
    assert settings.port == 11211 and settings.memory_limit == 64 << 20
    assert settings.max_connections == 1024 and settings.listen == ("127.0.0.1",)


@integration
def test_unit_file_systemd_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed")
    binary = shims(tmp_path) / "memcache-py"
    unit_copy = tmp_path / "memcache-py.service"
    unit_copy.write_text(UNIT_FILE.read_text().replace("/usr/local/bin/memcache-py", str(binary)))
    done = subprocess.run([analyze, "verify", str(unit_copy)], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "memcache-py.service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


@integration
def test_unit_file_execstart_serves_and_stops(tmp_path):
    """What systemd does with the unit: start ExecStart, stop it with KillSignal, expect 0."""
    service = read_unit()["Service"]
    port = free_port()
    argv = [str(shims(tmp_path) / "memcache-py")] + \
        [str(port) if a == "11211" else a for a in exec_start()[1:]]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(b"version\r\n")
            assert s.recv(100) == b"VERSION 1.6.18\r\n"
        proc.send_signal(getattr(signal, service["KillSignal"]))
        timeout = float(service.get("TimeoutStopSec", "90").rstrip("s"))
        assert proc.wait(timeout) == 0            # Restart=on-failure: a clean stop stays down
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@integration
def test_logs_on_stderr(tmp_path):
    """-v writes to stderr (journald collects it under the unit); nothing goes to stdout."""
    port = free_port()
    proc = subprocess.Popen([str(shims(tmp_path) / "memcache-py"), "-p", str(port), "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out == b"" and f"listening on 127.0.0.1:{port}".encode() in err


@integration
def test_install_recipe(tmp_path):
    """docs/operations.md's install: a venv, pip install of the checkout, a symlink on PATH."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", ".benchmarks",
        "tests", "docs", "bench"))
    venv = tmp_path / "opt" / "memcache-py"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "."], cwd=src,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip("no package index reachable: " + done.stderr[-300:])
    assert done.returncode == 0, done.stderr[-2000:]
    link = tmp_path / "usr" / "local" / "bin" / "memcache-py"
    link.parent.mkdir(parents=True)
    link.symlink_to(venv / "bin" / "memcache-py")
    version = subprocess.run([str(link), "-V"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, "memcached 1.6.18\n")


# ---- memcached-tool and memcached_exporter against the daemon ----------------------------------

def _command(port: int, data: bytes, end: bytes = b"END\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + 5
        while not buf.endswith(end) and time.monotonic() < deadline:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
        return buf


def _stats(port: int, sub: bytes = b"") -> dict[str, str]:
    reply = _command(port, b"stats" + (b" " + sub if sub else b"") + b"\r\n")
    return dict(line.split(" ", 2)[1:] for line in reply.decode().splitlines()
                if line.startswith("STAT "))


@integration
def test_memcached_tool_against_the_daemon(daemon):
    if not os.access(MEMCACHED_TOOL, os.X_OK):
        pytest.skip("memcached-tool not installed (apt-get install memcached)")
    port = daemon.port
    for i in range(100):
        _command(port, b"set key:%d 0 0 100\r\n%s\r\n" % (i, b"x" * 100), b"\r\n")
    _command(port, b"set big 0 0 5000\r\n%s\r\n" % (b"y" * 5000), b"\r\n")
    tool = [MEMCACHED_TOOL, f"127.0.0.1:{port}"]

    def run(*mode: str) -> str:
        done = subprocess.run(tool + list(mode), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    rows = {line.split()[0]: line.split() for line in run("display").splitlines()[1:]}
    assert rows["4"][1] == "192B" and rows["4"][4] == "100"      # class 4: 100 items
    assert rows["19"][1] == "5.5K" and rows["19"][4] == "1"
    stats = run("stats")
    assert re.search(r"^\s+curr_items\s+101$", stats, re.M)
    assert re.search(r"^\s+version\s+1\.6\.18$", stats, re.M)
    assert re.search(r"^\s+evictions\s+on$", run("settings"), re.M)
    # dump/keys read `lru_crawler metadump`: the crawler is on by default, as memcached's
    keys = run("keys")
    assert keys.count("key=") == 101 and "key=big " in keys
    dump = run("dump")
    assert dump.count("add key:") == 100 and "x" * 100 in dump


@integration
def test_exporter_view_of_stats(daemon):
    """memcached_exporter's parsing (spec/stats.md, its exporter.go): it reads stats, stats
    slabs, stats items and stats settings; cmd_set and the cas counters (general and per slab)
    must be present or it reports memcached_up 0; every value it reads must parse as a float,
    rusage_* as <sec>.<usec>, and settings booleans as yes/no."""
    port = daemon.port
    _command(port, b"set a 0 0 1\r\nx\r\nget a\r\n")
    general, slabs, items, settings = (_stats(port, sub) for sub in
                                       (b"", b"slabs", b"items", b"settings"))
    for key in ("cmd_set", "cas_misses", "cas_hits", "cas_badval"):
        float(general[key])
    for key in ("uptime", "time", "bytes_read", "bytes_written", "curr_connections",
                "total_connections", "rejected_connections", "conn_yields",
                "listen_disabled_num", "bytes", "limit_maxbytes", "curr_items", "total_items",
                "evictions", "reclaimed", "store_too_large", "store_no_memory",
                "crawler_items_checked", "crawler_reclaimed", "accepting_conns",
                "get_hits", "get_misses", "get_expired", "get_flushed", "delete_hits",
                "delete_misses", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
                "touch_hits", "touch_misses", "cmd_get", "cmd_touch", "cmd_flush"):
        float(general[key])
    for key in ("rusage_user", "rusage_system"):
        assert re.fullmatch(r"\d+\.\d{6}", general[key])
    assert general["version"] == "1.6.18"
    float(slabs["total_malloced"])
    classes = {k.split(":")[0] for k in slabs if ":" in k}
    assert classes == {"1"}
    for field in ("cmd_set", "cas_hits", "cas_badval", "get_hits", "delete_hits", "incr_hits",
                  "decr_hits", "touch_hits", "chunk_size", "chunks_per_page", "total_pages",
                  "total_chunks", "used_chunks", "free_chunks", "free_chunks_end"):
        float(slabs[f"1:{field}"])
    for field in ("number", "age", "mem_requested", "evicted", "evicted_nonzero",
                  "evicted_time", "outofmemory", "tailrepairs", "reclaimed",
                  "expired_unfetched", "evicted_unfetched", "crawler_reclaimed"):
        float(items[f"items:1:{field}"])
    float(settings["maxconns"])
    # lru_crawler "no": the exporter skips the LRU/crawler block (and its yes/no parsing)
    assert settings["lru_crawler"] in ("yes", "no")
    if settings["lru_crawler"] == "yes":
        assert settings["lru_maintainer_thread"] in ("yes", "no")
