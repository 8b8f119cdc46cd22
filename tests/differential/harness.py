"""Differential harness: send the same bytes to memcached 1.6.18 and to memcache_py.

A :class:`Case` is a list of byte chunks sent on ONE connection (each chunk is a separate
``send`` followed by a short pause, so fragmentation is exercised), optional startup flags,
and a few knobs (``close`` expected, which ``stats`` names to compare, extra masks).

For every case the harness runs the chunks against the reference (memcached) and then against
"ours", reads each side until the socket has been quiet for a while or was closed, normalises
both replies (see *Masking* below) and compares ``(reply units, closed)``.

Servers
-------
* Cases without flags and without ``fresh=True`` share ONE pair of servers per corpus and run
  concurrently on separate connections, so they must use keys no other case uses (a lint test
  checks this) and must not assume an empty cache.
* Cases with flags, or that look at counters / flush the cache / use literal CAS values /
  stop the server, get their own freshly started pair (``fresh``).

Masking (only where the value legitimately differs)
---------------------------------------------------
* CAS uniques (``VALUE k f n <cas>``, meta ``c<cas>``, ``ME ... cas=<n>``): both servers count
  CAS ids from the same start, so on a *fresh* pair they are compared exactly. On the shared pair
  other cases run concurrently, so each side's CAS values are renumbered by first appearance
  within the case (``<cas1>``, ``<cas2>``...; ``0`` stays ``0``): equal values stay equal and
  different values stay different, but the absolute numbers are not compared.
* ``STAT`` lines: never compared wholesale. A case lists the stat names it compares
  (``stats=(...)``, fnmatch patterns allowed); every other ``STAT`` line is dropped on both sides.
  A reference reply that contains ``STAT`` lines while the case lists none is a corpus error.
* Case-specific regex masks (``masks=((pattern, replacement), ...)``) for values that depend on
  the clock (e.g. the TTL of an absolute exptime, which depends on each process' start second).

Expected differences
--------------------
:data:`EXPECTED_DIFFERENCES` maps case names to the reason memcache_py intentionally differs.
Those tests are ``xfail(strict=False)`` (not in self-test mode, where they must pass).

Environment
-----------
``MEMCACHED_BIN``       reference binary (default ``/usr/bin/memcached``).
``DIFF_SELF_TEST=1``    "ours" is a second memcached: proves the harness is deterministic.
``DIFF_TARGET_PORT=N``  compare against an already running server on ``DIFF_TARGET_HOST``
                        (default 127.0.0.1) instead of starting memcache_py; cases that need
                        startup flags or stop the server are skipped, and so are cases that
                        need a fresh server unless ``DIFF_TARGET_FRESH=1`` (you just started
                        the target and run one case; the CLI sets it for a single ``--case``).
``DIFF_WORKERS``        concurrent cases (default 12).
``DIFF_QUIET_MS``       quiet period that ends a reply (default 150).
``DIFF_PAUSE_MS``       pause after each chunk (default 15).
``DIFF_ALL_FRESH=1``    every case gets its own fresh server pair (exact CAS everywhere).
``DIFF_RETRY=0``        do not retry a differing case on a fresh pair.
``DIFF_OURS_CMD``       override the command that starts ours (shell-split; ``{port}`` is
                        replaced), default ``python -m memcache_py``.

CLI: ``python -m tests.differential.harness --case NAME`` prints both replies side by side
(``--list`` lists the cases, ``--self-test`` compares memcached with itself).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import difflib
import errno
import fnmatch
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# Every server is started with these arguments (after the binary / module), then the port,
# then its mode's flags (MODES), then the case's own flags.
BASE_ARGS = ["-U", "0", "-t", "1", "-l", HOST]

# The corpora run twice: against memcached's defaults (1.6's page mover, crawler, maintainer)
# and against ``-o no_modern`` (memcached's classic flat LRU, which memcache_py reproduces).
MODES: dict[str, tuple[str, ...]] = {"default": (), "no_modern": ("-o", "no_modern")}
CLASSIC = "no_modern"   # the mode of callers that name none (the suite before it had modes)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


MEMCACHED_BIN = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
SELF_TEST = os.environ.get("DIFF_SELF_TEST", "") not in ("", "0")
TARGET_PORT = int(os.environ["DIFF_TARGET_PORT"]) if os.environ.get("DIFF_TARGET_PORT") else None
TARGET_HOST = os.environ.get("DIFF_TARGET_HOST", HOST)
# The user promises the target was just started (so fresh-pair cases may run against it).
TARGET_FRESH = os.environ.get("DIFF_TARGET_FRESH", "") not in ("", "0")
WORKERS = int(_env_float("DIFF_WORKERS", 12))
QUIET = _env_float("DIFF_QUIET_MS", 150) / 1000.0
PAUSE = _env_float("DIFF_PAUSE_MS", 15) / 1000.0
# How long "ours" may stay silent while it has sent fewer bytes than the reference (or has
# not closed although the reference did) before we give up waiting.
MAX_WAIT = _env_float("DIFF_MAX_WAIT_MS", 1500) / 1000.0
# Fresh server pairs started at the same time (a Python daemon start is CPU bound).
START_SLOTS = int(_env_float("DIFF_START_SLOTS", 3))
# Retry a differing case once on a fresh pair (absorbs clock-tick races; costs time when the
# daemon is genuinely wrong). DIFF_RETRY=0 turns it off.
RETRY = os.environ.get("DIFF_RETRY", "1") not in ("", "0")
RETRY_QUIET = max(QUIET * 3, 0.4)
# Every case on its own freshly started pair (exact CAS everywhere; slower).
ALL_FRESH = os.environ.get("DIFF_ALL_FRESH", "") not in ("", "0")
STARTUP_TIMEOUT = 15.0

# ---------------------------------------------------------------------------------------------
# Expected differences: case name -> why memcache_py intentionally differs from memcached.
# Such cases are xfail(strict=False) -- never silently skipped.
# ---------------------------------------------------------------------------------------------
EXPECTED_DIFFERENCES: dict[str, str] = {
    "binary_protocol_version": (
        "memcache_py does not implement the binary protocol: a connection whose first byte is "
        "0x80 is closed, memcached switches to binary (protocol.md §1)"
    ),
    "binary_protocol_get": (
        "memcache_py does not implement the binary protocol (protocol.md §1)"
    ),
    "meta_me_ttl": (
        "memcached 1.6.18 prints me exp= as (now - exptime), a sign bug fixed upstream; "
        "memcache_py prints the remaining seconds (meta.md §7)"
    ),
}

# Differences only against memcached's defaults: what its segmented LRU and LRU maintainer do,
# which memcache_py does not have yet (issue #15), and the hash it orders by.
_NO_MODERN_YET = ("memcached's defaults run the segmented LRU and the LRU maintainer; "
                  "memcache_py does not have them yet (issue #15)")
DEFAULT_MODE_DIFFERENCES: dict[str, str] = {
    "cmd_stats_detail": ("stats detail dump lists prefixes in memcached's hash-table order, "
                         "murmur3 by default; memcache_py orders them as jenkins does"),
    "cmd_stats_cachedump": ("with the segmented LRU memcached's cachedump walks COLD only, "
                            "so a new item shows once the maintainer has moved it there, "
                            "which races the dump; memcache_py's LRU is flat (issue #15)"),
    **{name: _NO_MODERN_YET for name in (
        "cmd_stats_expired_flushed", "slab_classes_growth_factor", "opt_lru_watch", "store_evictions_reads_dont_protect", "mget_refcount_cap_get",
        "mget_refcount_cap_gets", "slow_readers_do_not_pin_the_tail")},
}


def expected_difference(c: "Case", mode: str) -> str | None:
    """Why memcache_py is known to answer `c` differently in `mode`, or None."""
    return c.expected_difference or (DEFAULT_MODE_DIFFERENCES.get(c.name)
                                     if mode == "default" else None)


def memcached_available() -> str | None:
    """Return None when the reference binary can be used, else the reason it cannot."""
    path = shutil.which(MEMCACHED_BIN) or MEMCACHED_BIN
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return f"reference memcached not found at {MEMCACHED_BIN!r} (set MEMCACHED_BIN)"
    return None


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

Script = Callable[["Endpoint", "Reply | None"], "Reply"]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    chunks: tuple[bytes | Callable[[], bytes], ...]
    flags: tuple[str, ...] = ()
    close: bool = False               # the reference is expected to close the connection
    fresh: bool = False               # needs its own freshly started server pair
    stats: tuple[str, ...] = ()       # STAT names (fnmatch patterns) to compare
    masks: tuple[tuple[bytes, bytes], ...] = ()
    pause: float | None = None        # seconds after each chunk (default PAUSE)
    script: Script | None = None      # custom multi-connection runner (replaces chunks)
    stops_server: bool = False        # the case shuts the server down (never on a target)
    modes: tuple[str, ...] = tuple(MODES)   # the MODES this case is valid in
    doc: str = ""

    @property
    def needs_fresh(self) -> bool:
        return self.fresh or bool(self.flags) or bool(self.stats) or self.stops_server

    @property
    def expected_difference(self) -> str | None:
        return EXPECTED_DIFFERENCES.get(self.name)


def case(name: str, *chunks: bytes | str | Callable[[], bytes], **kw) -> Case:
    """Build a Case; ``str`` chunks are encoded as latin-1 (so ``"\\x80"`` is one byte).

    A chunk may also be a zero-argument callable returning bytes, evaluated right before it is
    sent (for values that depend on the wall clock, such as absolute exptimes).
    """
    data = tuple(c if callable(c) else c.encode("latin-1") if isinstance(c, str) else bytes(c)
                 for c in chunks)
    for key in ("flags", "stats", "masks", "modes"):
        if key in kw:
            kw[key] = tuple(kw[key])
    if "masks" in kw:
        kw["masks"] = tuple(
            (p.encode("latin-1") if isinstance(p, str) else p,
             r.encode("latin-1") if isinstance(r, str) else r) for p, r in kw["masks"])
    return Case(name=name, chunks=data, **kw)


def check_corpus(cases: Sequence[Case]) -> None:
    """Raise ValueError on duplicate case names."""
    seen: set[str] = set()
    for c in cases:
        if c.name in seen:
            raise ValueError(f"duplicate case name {c.name!r}")
        seen.add(c.name)


# Commands whose keys we can find in the request bytes, and where the key(s) start.
_KEY_COMMANDS = {
    b"set": 1, b"add": 1, b"replace": 1, b"append": 1, b"prepend": 1, b"cas": 1,
    b"touch": 1, b"delete": 1, b"incr": 1, b"decr": 1,
    b"mg": 1, b"ms": 1, b"md": 1, b"ma": 1, b"me": 1,
}
_MULTI_KEY_COMMANDS = {b"get": 1, b"gets": 1, b"bget": 1, b"gat": 2, b"gats": 2}


def request_keys(c: Case) -> set[bytes]:
    """Best-effort set of keys a case's requests touch (for the shared-pair key lint)."""
    keys: set[bytes] = set()
    for line in b"".join(ch() if callable(ch) else ch for ch in c.chunks).split(b"\n"):
        line = line[:-1] if line.endswith(b"\r") else line
        toks = [t for t in line.split(b"\0")[0].split(b" ") if t]
        if not toks:
            continue
        cmd = toks[0]
        if cmd in _KEY_COMMANDS and len(toks) > _KEY_COMMANDS[cmd]:
            keys.add(toks[_KEY_COMMANDS[cmd]])
        elif cmd in _MULTI_KEY_COMMANDS:
            keys.update(toks[_MULTI_KEY_COMMANDS[cmd]:])
    # keys longer than 250 bytes are rejected, never stored: sharing them is harmless
    return {k for k in keys if len(k) <= 250}


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------

_live_processes: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


def _kill_all_at_exit() -> None:
    with _live_lock:
        procs = list(_live_processes)
    for p in procs:
        if p.poll() is None:
            p.kill()


atexit.register(_kill_all_at_exit)


_ports_given: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A port nothing listens on, never one handed out before in this run: cases start
    servers in parallel threads, and the kernel may offer a just-closed ephemeral port twice,
    so two servers raced for one port (one exits 71, the other answers both endpoints)."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        with _ports_lock:
            if port not in _ports_given:
                _ports_given.add(port)
                return port


class ServerStartError(RuntimeError):
    pass


@dataclasses.dataclass
class Endpoint:
    """Somewhere to connect to; owns the process when we started it."""

    label: str
    host: str
    port: int
    fresh: bool                       # started for this case only (CAS ids deterministic)
    proc: subprocess.Popen | None = None
    argv: tuple[str, ...] = ()
    log_path: str | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def log_tail(self, limit: int = 2000) -> str:
        if not self.log_path:
            return ""
        try:
            data = Path(self.log_path).read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                # memcached sometimes ignores SIGTERM while it has stopped accepting (-c)
                p.kill()
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
        with _live_lock:
            _live_processes.discard(p)
        if self.log_path:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
            self.log_path = None


def reference_argv(port: int, flags: Sequence[str]) -> list[str]:
    argv = [MEMCACHED_BIN]
    if os.geteuid() == 0:
        # memcached refuses to run as root without -u ("can't run as root without the -u switch")
        argv += ["-u", "root"]
    return argv + BASE_ARGS + ["-p", str(port), *flags]


def ours_argv(port: int, flags: Sequence[str]) -> list[str]:
    if SELF_TEST:
        return reference_argv(port, flags)
    cmd = os.environ.get("DIFF_OURS_CMD")
    if cmd:
        base = [a.replace("{port}", str(port)) for a in shlex.split(cmd)]
    else:
        base = [sys.executable, "-m", "memcache_py"]
    return base + BASE_ARGS + ["-p", str(port), *flags]


def _wait_listening(ep: Endpoint, deadline: float) -> None:
    assert ep.proc is not None
    while True:
        if ep.proc.poll() is not None:
            raise ServerStartError(
                f"{ep.label} exited with status {ep.proc.returncode} during start-up\n"
                f"  argv: {shlex.join(ep.argv)}\n  output:\n{ep.log_tail()}")
        try:
            with socket.create_connection(ep.addr, timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{ep.label} not listening on {ep.port} after {STARTUP_TIMEOUT:.0f}s\n"
                f"  argv: {shlex.join(ep.argv)}\n  output:\n{ep.log_tail()}")
        time.sleep(0.01)


def _spawn(label: str, make_argv: Callable[[int, Sequence[str]], list[str]],
           flags: Sequence[str], fresh: bool) -> Endpoint:
    port = free_port()
    argv = make_argv(port, flags)
    fd, log_path = tempfile.mkstemp(prefix=f"diff-{label}-", suffix=".log")
    try:
        proc = subprocess.Popen(argv, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL,
                                stdout=fd, stderr=fd)
    except OSError as e:
        os.close(fd)
        os.unlink(log_path)
        raise ServerStartError(f"{label}: cannot run {argv[0]!r}: {e}") from e
    os.close(fd)
    with _live_lock:
        _live_processes.add(proc)
    return Endpoint(label=label, host=HOST, port=port, fresh=fresh, proc=proc,
                    argv=tuple(argv), log_path=log_path)


def start_pair(flags: Sequence[str] = (), fresh: bool = True,
               mode: str = CLASSIC) -> tuple[Endpoint, Endpoint]:
    """Start reference + ours in `mode` (or use the DIFF_TARGET_PORT server as ours)."""
    flags = [*MODES[mode], *flags]
    for attempt in range(3):
        eps: list[Endpoint] = []
        try:
            eps.append(_spawn("memcached", reference_argv, flags, fresh))
            if TARGET_PORT is not None:
                ours = Endpoint(label="target", host=TARGET_HOST, port=TARGET_PORT,
                                fresh=fresh and TARGET_FRESH)
            else:
                ours = _spawn("memcached-2" if SELF_TEST else "memcache_py",
                              ours_argv, flags, fresh)
                eps.append(ours)
            deadline = time.monotonic() + STARTUP_TIMEOUT
            for ep in eps:
                _wait_listening(ep, deadline)
            return eps[0], ours
        except ServerStartError:
            for ep in eps:
                ep.stop()
            # free_port() can race with other processes on this machine: try other ports
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# One session on one connection
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Reply:
    data: bytes
    closed: bool
    elapsed: float = 0.0


def connect(ep: Endpoint, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(ep.addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    return s


def _recv_some(s: socket.socket, buf: bytearray) -> bool:
    """Read what is available. Returns True when the peer closed (EOF or reset)."""
    while True:
        try:
            d = s.recv(262144)
        except (BlockingIOError, InterruptedError):
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return True
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                return True
            raise
        if not d:
            return True
        buf += d


def run_session(ep: Endpoint, chunks: Sequence[bytes], *, pause: float = PAUSE,
                quiet: float = QUIET, expect: Reply | None = None,
                max_wait: float = MAX_WAIT) -> Reply:
    """Send ``chunks`` one by one on a new connection and collect everything the server says.

    Without ``expect`` the reply ends once the socket has been quiet for ``quiet`` seconds.
    With ``expect`` (the reference's reply) we wait up to ``max_wait`` of silence while we have
    fewer bytes than the reference, or while the reference closed and we are not closed yet, so
    a slow server is not mistaken for a wrong one.
    """
    t0 = time.monotonic()
    s = connect(ep)
    buf = bytearray()
    closed = False
    try:
        for chunk in chunks:
            if callable(chunk):
                chunk = chunk()
            view = memoryview(chunk)
            while view and not closed:
                r, w, _ = select.select([s], [s], [], 5.0)
                if r:
                    closed = _recv_some(s, buf)
                if w and not closed:
                    try:
                        n = s.send(view[:262144])
                        view = view[n:]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                        closed = True
                if not r and not w:
                    break  # peer stopped reading for 5 s; give up sending this chunk
            if closed:
                break
            end = time.monotonic() + pause
            while not closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if r:
                    closed = _recv_some(s, buf)
        last = time.monotonic()
        seen = len(buf)
        while not closed:
            now = time.monotonic()
            if len(buf) != seen:
                seen, last = len(buf), now
            silent = now - last
            if expect is None:
                limit = quiet
            elif len(buf) < len(expect.data) or (expect.closed and not closed):
                limit = max_wait
            else:
                limit = quiet
            if silent >= limit:
                break
            r, _, _ = select.select([s], [], [], min(0.05, limit - silent))
            if r:
                closed = _recv_some(s, buf)
    finally:
        s.close()
    return Reply(bytes(buf), closed, time.monotonic() - t0)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_META_CODES = {b"HD", b"VA", b"EN", b"NS", b"EX", b"NF"}
_DIGITS = re.compile(rb"^[0-9]+$")


def split_units(data: bytes) -> list[bytes]:
    """Split a reply stream into units: one line each, a VALUE/VA line carries its data block."""
    units: list[bytes] = []
    i = 0
    n = len(data)
    while i < n:
        j = data.find(b"\n", i)
        if j < 0:
            units.append(data[i:])
            break
        line = data[i:j + 1]
        i = j + 1
        toks = line.rstrip(b"\r\n").split(b" ")
        size = None
        if toks[0] == b"VALUE" and len(toks) >= 4 and _DIGITS.match(toks[3]):
            size = int(toks[3])
        elif toks[0] == b"VA" and len(toks) >= 2 and _DIGITS.match(toks[1]):
            size = int(toks[1])
        if size is not None and i + size + 2 <= n:
            line += data[i:i + size + 2]
            i += size + 2
        units.append(line)
    return units


class _CasMap:
    def __init__(self) -> None:
        self.seen: dict[bytes, bytes] = {}

    def __call__(self, value: bytes) -> bytes:
        if value == b"0":
            return value
        if value not in self.seen:
            self.seen[value] = b"<cas%d>" % (len(self.seen) + 1)
        return self.seen[value]


def _renumber_cas(unit: bytes, cas: _CasMap) -> bytes:
    head, sep, rest = unit.partition(b"\n")
    line = head.rstrip(b"\r")
    cr = head[len(line):]
    toks = line.split(b" ")
    if toks[0] == b"VALUE" and len(toks) == 5 and _DIGITS.match(toks[4]):
        toks[4] = cas(toks[4])
    elif toks[0] in _META_CODES:
        start = 2 if toks[0] == b"VA" else 1
        for k in range(start, len(toks)):
            t = toks[k]
            if len(t) > 1 and t[:1] == b"c" and _DIGITS.match(t[1:]):
                toks[k] = b"c" + cas(t[1:])
    elif toks[0] == b"ME":
        for k in range(2, len(toks)):
            t = toks[k]
            if t.startswith(b"cas=") and _DIGITS.match(t[4:]):
                toks[k] = b"cas=" + cas(t[4:])
    else:
        return unit
    return b" ".join(toks) + cr + sep + rest


def stat_name(unit: bytes) -> bytes | None:
    if not unit.startswith(b"STAT "):
        return None
    toks = unit.rstrip(b"\r\n").split(b" ")
    return toks[1] if len(toks) > 1 else b""


def normalise(c: Case, reply: Reply, *, exact_cas: bool) -> list[bytes]:
    units = split_units(reply.data)
    out: list[bytes] = []
    cas = _CasMap()
    patterns = [p.encode() if isinstance(p, str) else p for p in c.stats]
    for u in units:
        name = stat_name(u)
        if name is not None:
            if not any(fnmatch.fnmatchcase(name.decode("latin-1"), p.decode("latin-1"))
                       for p in patterns):
                continue
        if not exact_cas:
            u = _renumber_cas(u, cas)
        for pat, rep in c.masks:
            u = re.sub(pat, rep, u)
        out.append(u)
    return out


# ---------------------------------------------------------------------------------------------
# Running cases
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    case: Case
    ref: Reply | None = None
    ours: Reply | None = None
    ref_units: list[bytes] = dataclasses.field(default_factory=list)
    ours_units: list[bytes] = dataclasses.field(default_factory=list)
    exact_cas: bool = False
    error: str | None = None          # harness / start-up failure
    corpus_error: str | None = None   # the reference does not behave as the case claims
    skipped: str | None = None
    retried: bool = False             # mismatch on the shared pair, passed on a fresh pair
    first_attempt: "Outcome | None" = None
    ours_log: str = ""

    @property
    def same(self) -> bool:
        return (self.ref is not None and self.ours is not None
                and self.ref_units == self.ours_units and self.ref.closed == self.ours.closed)

    @property
    def passed(self) -> bool:
        return self.error is None and self.corpus_error is None and self.same


def skip_reason(c: Case, mode: str = CLASSIC) -> str | None:
    if mode not in c.modes:
        return f"not a case for mode {mode} (only {', '.join(c.modes)})"
    if TARGET_PORT is not None:
        if c.flags:
            return (f"needs startup flags {' '.join(c.flags)}; cannot restart the "
                    f"DIFF_TARGET_PORT server")
        if c.stops_server:
            return "stops the server; not run against a DIFF_TARGET_PORT server"
        if c.needs_fresh and not TARGET_FRESH:
            return ("needs a freshly started server (counters, CAS values or global state): "
                    "restart the target and run this case alone with DIFF_TARGET_FRESH=1 "
                    "(the harness CLI does that for a single --case)")
    return None


def run_case_on(c: Case, ref_ep: Endpoint, our_ep: Endpoint, quiet: float = QUIET) -> Outcome:
    out = Outcome(case=c)
    pause = PAUSE if c.pause is None else c.pause
    if c.script is not None:
        out.ref = c.script(ref_ep, None)
        out.ours = c.script(our_ep, out.ref)
    else:
        out.ref = run_session(ref_ep, c.chunks, pause=pause, quiet=quiet)
        out.ours = run_session(our_ep, c.chunks, pause=pause, quiet=quiet, expect=out.ref)
    out.exact_cas = ref_ep.fresh and our_ep.fresh
    out.ref_units = normalise(c, out.ref, exact_cas=out.exact_cas)
    out.ours_units = normalise(c, out.ours, exact_cas=out.exact_cas)
    if out.ref.closed != c.close:
        out.corpus_error = (f"corpus: the reference {'closed' if out.ref.closed else 'kept'} "
                            f"the connection but the case says close={c.close}")
    elif not c.stats and any(stat_name(u) is not None for u in split_units(out.ref.data)):
        out.corpus_error = "corpus: the reference sent STAT lines but the case lists no stats="
    return out


def _run_fresh(c: Case, slots: threading.Semaphore, quiet: float = QUIET,
               mode: str = CLASSIC) -> Outcome:
    with slots:
        ref_ep, our_ep = start_pair(c.flags, fresh=True, mode=mode)
    try:
        out = run_case_on(c, ref_ep, our_ep, quiet)
        if not out.same:
            out.ours_log = our_ep.log_tail()
        return out
    finally:
        ref_ep.stop()
        our_ep.stop()


def run_one(c: Case, shared: tuple[Endpoint, Endpoint] | None,
            slots: threading.Semaphore, mode: str = CLASSIC) -> Outcome:
    reason = skip_reason(c, mode)
    if reason:
        return Outcome(case=c, skipped=reason)
    try:
        if c.needs_fresh or shared is None:
            out = _run_fresh(c, slots, mode=mode)
            if not out.same and out.corpus_error is None and RETRY:
                # one retry on fresh servers absorbs clock-tick races (TTL reads across a
                # second boundary) and a reply cut short by a CPU-starved server (longer
                # quiet period); a real difference fails twice
                second = _run_fresh(c, slots, RETRY_QUIET, mode)
                if second.same:
                    second.retried, second.first_attempt = True, out
                    return second
            return out
        out = run_case_on(c, *shared)
        if not out.same and out.corpus_error is None and RETRY:
            # retry on a fresh pair: exact CAS values, no concurrent neighbours
            second = _run_fresh(c, slots, RETRY_QUIET, mode)
            second.first_attempt = out
            second.retried = second.same
            return second
        return out
    except ServerStartError as e:
        return Outcome(case=c, error=str(e))
    except Exception as e:  # noqa: BLE001 - report harness failures per case
        import traceback
        return Outcome(case=c, error="harness error: " + "".join(
            traceback.format_exception(type(e), e, e.__traceback__)))


def run_cases(cases: Iterable[Case], workers: int = WORKERS,
              progress: Callable[[Outcome], None] | None = None,
              mode: str = CLASSIC) -> dict[str, Outcome]:
    cases = list(cases)
    results: dict[str, Outcome] = {}
    slots = threading.Semaphore(START_SLOTS)
    shared: tuple[Endpoint, Endpoint] | None = None
    shared_error: str | None = None
    if not ALL_FRESH and any(not c.needs_fresh for c in cases):
        try:
            shared = start_pair((), fresh=False, mode=mode)
        except ServerStartError as e:
            shared_error = str(e)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futs = {}
            # fresh cases first: they take longest, the shared ones fill the gaps
            for c in sorted(cases, key=lambda c: not c.needs_fresh):
                if shared_error and not c.needs_fresh:
                    results[c.name] = Outcome(case=c, error=shared_error)
                    continue
                futs[pool.submit(run_one, c, shared, slots, mode)] = c
            for f in concurrent.futures.as_completed(futs):
                o = f.result()
                results[o.case.name] = o
                if progress:
                    progress(o)
    finally:
        if shared:
            if not all(o.passed for o in results.values()):
                log = shared[1].log_tail()
                for o in results.values():
                    if not o.passed and not o.case.needs_fresh and not o.ours_log:
                        o.ours_log = log
            shared[0].stop()
            shared[1].stop()
    return results


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------

def show(unit: bytes | Callable[[], bytes], limit: int = 160) -> str:
    if callable(unit):
        return "<evaluated at send time> e.g. " + show(unit(), limit)
    if len(unit) > limit:
        r = repr(unit[: limit // 2])[:-1] + f"...<{len(unit)} bytes>..." + repr(unit[-20:])[2:]
    else:
        r = repr(unit)
    return r


def _chunks_text(c: Case) -> str:
    if c.script is not None:
        return f"  (script {getattr(c.script, '__name__', c.script)!r})"
    return "\n".join(f"  chunk {i}: {show(ch, 200)}" for i, ch in enumerate(c.chunks))


def explain(o: Outcome) -> str:
    """Failure message: what was sent, and a unified diff of the normalised replies."""
    c = o.case
    lines = [f"case {c.name!r}" + (f" flags={' '.join(c.flags)}" if c.flags else "")
             + (" (fresh pair, CAS exact)" if o.exact_cas else " (shared pair, CAS renumbered)")]
    if c.doc:
        lines.append(f"  {c.doc}")
    lines.append("sent:")
    lines.append(_chunks_text(c))
    if o.error:
        lines.append(o.error)
        return "\n".join(lines)
    if o.corpus_error:
        lines.append(o.corpus_error)
    assert o.ref is not None and o.ours is not None
    a = [show(u) for u in o.ref_units] + [f"<closed={o.ref.closed}>"]
    b = [show(u) for u in o.ours_units] + [f"<closed={o.ours.closed}>"]
    diff = difflib.unified_diff(a, b, "memcached", "ours", lineterm="", n=3)
    lines.append("diff of normalised replies (- memcached, + ours):")
    lines.extend("  " + d for d in diff)
    if o.first_attempt is not None and o.first_attempt is not o:
        lines.append("(also differed on the shared pair)")
    if o.ours_log.strip():
        lines.append("ours stderr (tail):")
        lines.extend("  " + ln for ln in o.ours_log.strip().splitlines()[-15:])
    return "\n".join(lines)


def side_by_side(o: Outcome, width: int = 78) -> str:
    a = [show(u, width - 4) for u in o.ref_units] + [f"<closed={o.ref.closed}>"]
    b = [show(u, width - 4) for u in o.ours_units] + [f"<closed={o.ours.closed}>"]
    rows = [f"{'memcached':<{width}} | ours", "-" * width + "-+-" + "-" * width]
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            left = a[i1 + k] if i1 + k < i2 else ""
            right = b[j1 + k] if j1 + k < j2 else ""
            mark = "|" if tag == "equal" else "*"
            rows.append(f"{left:<{width}} {mark} {right}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def all_corpora() -> dict[str, list[Case]]:
    from . import corpus_classic, corpus_meta
    return {"classic": corpus_classic.CASES, "meta": corpus_meta.CASES}


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    global SELF_TEST, TARGET_FRESH
    p = argparse.ArgumentParser(prog="python -m tests.differential.harness",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--case", action="append", default=[],
                   help="case name (fnmatch pattern allowed); repeatable")
    p.add_argument("--list", action="store_true", help="list the cases")
    p.add_argument("--self-test", action="store_true", help="ours = a second memcached")
    p.add_argument("--raw", action="store_true", help="also print the raw replies")
    p.add_argument("--width", type=int, default=78)
    p.add_argument("--all", action="store_true", help="run every case, print a summary")
    p.add_argument("--mode", choices=list(MODES), default="default",
                   help="memcached's defaults, or -o no_modern on both servers")
    args = p.parse_args(argv)
    if args.self_test:
        SELF_TEST = True
    corpora = all_corpora()
    every = [c for cs in corpora.values() for c in cs]
    if args.list:
        for name, cs in corpora.items():
            for c in cs:
                tags = [t for t, on in (("fresh", c.needs_fresh), ("close", c.close),
                                        ("xfail", c.expected_difference)) if on]
                print(f"{name:8} {c.name:40} {' '.join(c.flags):16} {','.join(tags)}")
        return 0
    why = memcached_available()
    if why:
        print(why, file=sys.stderr)
        return 2
    if args.all:
        chosen = every
    else:
        chosen = [c for c in every if any(fnmatch.fnmatchcase(c.name, pat) for pat in args.case)]
    if not chosen:
        print("no case selected (use --case NAME, --all or --list)", file=sys.stderr)
        return 2
    if TARGET_PORT is not None and len(chosen) == 1:
        TARGET_FRESH = True
    t0 = time.monotonic()
    results = run_cases(chosen, mode=args.mode)
    bad = 0
    for c in chosen:
        o = results[c.name]
        if args.all:
            if not o.passed and not o.skipped:
                bad += 1
                print(f"FAIL {c.name}" + (f"  [expected: {c.expected_difference}]"
                                          if c.expected_difference else ""))
            continue
        print(f"=== {c.name} " + ("(same)" if o.passed else "(DIFFERENT)" if not o.skipped
                                  else f"(skipped: {o.skipped})"))
        if o.skipped:
            continue
        print(_chunks_text(c))
        if o.error:
            print(o.error)
            bad += 1
            continue
        if o.corpus_error:
            print(o.corpus_error)
        print(side_by_side(o, args.width))
        if args.raw:
            print("raw memcached:", o.ref.data)
            print("raw ours     :", o.ours.data)
        if not o.passed:
            bad += 1
            if o.ours_log.strip():
                print("ours stderr (tail):\n" + o.ours_log)
    print(f"{len(chosen)} case(s), {bad} different, {time.monotonic() - t0:.1f}s",
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    # run main() of the package module (not of __main__), so the corpora and the CLI share
    # one copy of this module's state
    from tests.differential import harness as _harness
    sys.exit(_harness.main())
