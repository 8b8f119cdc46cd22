#!/usr/bin/env python3
"""Generate docs/compatibility.md: what memcache_py does with each memcached 1.6.18 command,
flag and stats field.

Run from the repository root:

    python tools/gen_compat.py            # rewrite docs/compatibility.md
    python tools/gen_compat.py --check    # exit 1 if docs/compatibility.md is out of date

Where each part comes from (only the reasons for differences are written by hand, in the
NOTES tables below; the generator fails when a difference it finds has no reason):
  * commands: the verbs memcache_py.parser.PARSERS accepts, and the differential cases
    (tests/differential/corpus_*.py) that send each one, with the harness's
    EXPECTED_DIFFERENCES;
  * flags and -o options: memcache_py.settings.OPTIONS, compared with the flag tables of
    ../shared/spec/cli.md; whether the daemon reads an option is found by searching the code;
  * stats: what memcache_py.stats and settings_stats print on a daemon built from default
    settings, compared with the field lists in ../shared/spec/stats.md; whether a counter ever
    moves is found by searching the code for assignments to it;
  * the differential corpus: one row per case.
Standard library plus the project's own modules only.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import fnmatch
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "compatibility.md"


def shared_dir() -> Path:
    """The reference specs: $MEMCACHE_PY_SHARED, else ../shared beside the repository."""
    return Path(os.environ.get("MEMCACHE_PY_SHARED", ROOT.parent / "shared"))


# =============================================================================================
# Hand-written part: the reasons. Everything else is computed.
# =============================================================================================

# The differences a user deciding between memcached and memcache_py should know first
# (most deliberate, a few not implemented).
# (what, memcached 1.6.18, memcache_py, why, where it shows)
DELIBERATE = [
    ("Default listen address", "all interfaces (`0.0.0.0` and `::`)", "`127.0.0.1`",
     "a cache with no authentication should not be reachable from the network by accident; "
     "`-l` widens it (`-l 0.0.0.0`, or a list of addresses)", "`stats settings` `inter`"),
    ("Binary protocol", "a connection whose first byte is 0x80 speaks binary",
     "such a connection is closed", "the binary protocol is deprecated upstream; only the text "
     "and meta protocols are served", "cases `binary_protocol_version`, `binary_protocol_get`"),
    ("`me` exp=", "prints `now - exptime` (the negative of the TTL; a 1.6.18 bug fixed later)",
     "prints the remaining seconds", "follows the fixed upstream behaviour (spec/meta.md §7)",
     "case `meta_me_ttl`"),
    ("Items larger than `slab_chunk_max` (512 KB)",
     "a chain of largest-class chunks plus a last chunk from a smaller class",
     "a chain of largest-class chunks only",
     "simpler accounting; the whole item is charged to the largest class, so `stats slabs` "
     "shows more largest-class chunks and none in the smaller class",
     "`stats slabs` after storing a value over 512 KB"),
    ("LRU", "segmented (HOT/WARM/COLD/TEMP) with a maintainer thread, LRU crawler and slab "
     "automover by default", "the page mover, automove and the LRU crawler with its "
     "autoscheduler by default, as memcached; the LRU itself is the classic flat per-class "
     "one, as `memcached -o no_modern`", "the segmented LRU and its maintainer are not built "
     "yet", "`stats settings` `lru_segmented no`, `lru_maintainer_thread no`"),
    ("The page mover with no free chunk for a rescue", "evicts the item being moved, a "
     "random item with respect to the LRU (memcached issue #284)", "evicts from the class's "
     "LRU tail, as memcached 1.6.34 does, so the least recently used item goes; counted as "
     "1.6.18 counts its own, in `slab_reassign_evictions_nomem` and not in `evictions`",
     "1.6.34's choice of victim is the fixed one; the counter keeps 1.6.18's tools and tests "
     "reading the same. A rescued item keeps its LRU place (1.6.18 relinks it at the head), "
     "so `slab_reassign_rescues` can be higher than memcached's when evictions were needed",
     "`stats` after `slabs reassign` on a full class"),
    ("Automove without the LRU maintainer", "`slab_automove 1` runs only from the LRU "
     "maintainer thread, so with `-o no_modern,slab_reassign,slab_automove=1` nothing moves",
     "automove runs once a second whenever `slab_reassign` is on", "there is no maintainer "
     "yet; the option asks for automove, so it runs", "`slabs_moved` in `stats`"),
    ("UDP (`-U`)", "served when a port is given", "accepted, nothing listens on UDP",
     "UDP is off by default since 1.5.6 and rarely used", "`stats settings` `udpport`"),
    ("SASL, warm restart", "`-S` (binary protocol only), `-e`",
     "`-S` accepted and ignored; `-e` restarts warm as memcached does (operations.md)",
     "SASL not implemented; an empty or damaged `.meta` starts cold instead of aborting",
     "flags table below"),
    ("TLS session cache", "`ssl_session_cache` off: no server-side cache, tickets still "
     "issued", "off: no tickets either (`OP_NO_TICKET`, no TLS 1.3 tickets); the ssl module "
     "cannot turn OpenSSL's TLS 1.2 session-ID cache off", "the ssl module exposes tickets, "
     "not the cache mode", "[security.md](security.md)"),
    ("`ssl_keyformat`", "PEM (1), DER (2) or an engine", "PEM only; 2 gets memcached's "
     "messages for a bad key, a good DER key is refused at start", "the ssl module loads PEM "
     "keys only", "`test_security_vs_memcached.py` refusals"),
    ("A refused client certificate (`ssl_verify_mode` 1-3)", "the TLS alert is sent: the "
     "client reads `certificate required` or `unknown ca`", "the connection is closed without "
     "the alert: the client reads EOF", "asyncio's (and uvloop's) TLS protocol drops the "
     "alert of a failed handshake", "`tls_verify_*` cases (both refuse)"),
    ("`ssl_handshake_errors`", "counts handshakes that fail in the first `SSL_accept`, right "
     "after `accept` (a client that connects and waits, then fails, is not counted)",
     "counts every failed or stalled handshake, and clients that leave mid-handshake",
     "the issue asks for every failure to be counted", "tests/integration/test_tls.py"),
    ("`ssl_kernel_tls`", "kernel TLS where OpenSSL has it (Debian's does)", "refused at "
     "start: `Kernel TLS offload is not available` (exit 64), memcached's message where "
     "OpenSSL lacks it", "TLS runs through memory BIOs in the event loop, which the kernel "
     "cannot take over", "[security.md](security.md)"),
    ("`refresh_certs` with a bad pair", "loads into the live context: a bad key after a good "
     "certificate leaves the new certificate in place", "builds a new context and swaps it in "
     "only when every file loads", "never serve a half-updated pair", "same reply lines: "
     "`tls_refresh_certs_good_and_bad`"),
    ("`cache_memlimit`", "can raise the limit (pages are malloced on demand)",
     "can lower it, and raise it only up to what the arena reserved at start "
     "(`-m` plus one page per slab class)",
     "all item memory is one numpy array allocated at start", "`limit_maxbytes` rises, "
     "`total_malloced` stops growing at the arena's size"),
    ("Threads (`-t`)", "worker threads", "one event loop; `-t` is accepted and shown as "
     "`threads`", "one Python process uses one core; run several instances to use more "
     "([scaling.md](scaling.md))", "`stats` `threads`"),
    ("`-vv`", "echoes every command and reply on stderr", "prints the slab class table at "
     "start (byte-identical) but does not echo commands", "not implemented", "stderr"),
    ("Signals", "SIGTERM/SIGINT: exit; SIGUSR1: graceful stop; SIGHUP: reloads the `-Y` "
     "file", "SIGTERM/SIGINT/SIGUSR1: stop accepting, drain queued replies for at most 0.5 s, "
     "exit 0; SIGHUP reloads the `-Y` file (a bad file keeps the old entries, as memcached)",
     "one stop path", "[operations.md](operations.md), [security.md](security.md)"),
]

# Commands whose status the corpus cannot show, or which differ. command -> (status, note)
COMMAND_NOTES: dict[str, tuple[str, str]] = {
    "watch": ("same",
              "memcached 1.6.18's lines for fetchers, mutations, evictions and connevents "
              "(tests/differential/test_watch_vs_memcached.py); not logged: stores refused as "
              "too large, `rawcmds`, and `sysevents`"),
    "lru mode": ("same", "answers as `memcached -o no_modern` (no segmented LRU to switch)"),
    "lru temp_ttl": ("same", "answers as `memcached -o no_modern`"),
    "lru_crawler crawl": ("same",
                          "a background crawl, as memcached's: one item of each LRU in turn, "
                          "a bounded step per loop turn; `lru_crawler_running` shows it"),
    "lru_crawler metadump": ("differs", "the connection is lent to the crawler until `END`, "
                             "as memcached's, and memcached-tool `dump`/`keys` work with the "
                             "defaults. Requests pipelined after it run once it ends "
                             "(memcached runs them only when more input arrives); one "
                             "pipelined after a `noreply` command is not refused with "
                             "`ERROR cannot pipeline other commands before metadump`"),
    "slabs reassign": ("same", "`CLIENT_ERROR slab reassignment disabled`, as `-o no_modern`"),
    "cache_memlimit": ("differs", "cannot raise the limit past the arena reserved at start "
                       "(see the deliberate differences)"),
    "stats conns": ("same", "same lines; file descriptor numbers are this process's"),
    "shutdown": ("same", "only with `-A`; the process stops accepting, lets queued replies "
                 "drain for up to 0.5 s and exits 0"),
    "refresh_certs": ("same", "`OK`, memcached's error lines for bad files, `Error TLS not "
                      "enabled` without `-Z` (tests/differential/test_security_vs_memcached.py)"),
    "verbosity": ("same", "the level is kept and clamped as memcached does, but logging does "
                  "not change with it (see `-v`)"),
}

# Flags. flag -> (status, note). Flags without an entry get "same" when the daemon reads the
# option, "accepted, ignored" when it does not.
FLAG_NOTES: dict[str, tuple[str, str]] = {
    "-e": ("same", "the arena is a shared mapping of the file; SIGUSR1 or `shutdown graceful` "
           "saves `<file>.meta`; not exchangeable with memcached's files (another item layout)"),
    "-l": ("differs", "default `127.0.0.1` (memcached: all interfaces)"),
    "-t": ("differs", "one event loop serves every connection; the number is only shown "
           "(`threads`, `num_threads`)"),
    "-U": ("accepted, ignored", "nothing listens on UDP; shown as `udpport`"),
    "-B": ("differs", "`ascii`, `binary` and `auto` are accepted; the binary protocol is never "
           "spoken (a connection starting with 0x80 is closed)"),
    "-R": ("accepted, ignored", "a connection runs its buffered requests until its output "
           "passes the high-water mark; `conn_yields` stays 0"),
    "-u": ("accepted, ignored", "memcached refuses to run as root without `-u`; memcache_py "
           "runs as whoever starts it (use systemd's `User=`/`DynamicUser=`)"),
    "-v": ("differs", "`-v` logs start-up and errors, `-vv` adds the slab class table; "
           "commands and replies are not echoed"),
    "-c": ("same", "counts client connections (memcached counts file descriptors, so it "
           "refuses a few connections earlier)"),
    "-m": ("same", "the arena for `-m` plus one page per slab class is reserved at start; "
           "the kernel backs it as pages are used"),
    "-S": ("accepted, ignored", "SASL belongs to the binary protocol"),
    "-W": ("same", "`watch` answers `CLIENT_ERROR watch commands not allowed`"),
    "-d": ("same", ""),
    "-P": ("same", ""),
    "-h": ("differs", "lists the flags memcache_py takes, in memcached's layout"),
    "-i": ("differs", "prints memcache_py's license"),
    "-V": ("same", "prints `memcached 1.6.18` (tools parse this line)"),
}

SUBOPT_NOTES: dict[str, tuple[str, str]] = {
    "no_modern": ("same", "slab_chunk_max = 1 MB, pages counted as chunk size x chunks per "
                  "page, `maxconns_fast no`, `hash_algorithm jenkins`; the LRU is flat with "
                  "or without it"),
    "maxconns_fast": ("same", "over `-c`: `ERROR Too many open connections`, then close"),
    "no_maxconns_fast": ("differs", "only hides `rejected_connections`; clients over `-c` "
                         "still get the error line (memcached stops accepting instead)"),
    "lru_crawler": ("same", "on by default, as memcached"),
    "no_lru_crawler": ("same", "no crawler task; `lru_crawler enable` starts it"),
    "lru_maintainer": ("differs", "on by default: the crawler's autoscheduler runs, as from "
                       "memcached's maintainer thread; the LRU stays flat (no segmented LRU "
                       "yet)"),
    "no_lru_maintainer": ("same", "no autoscheduled crawls; the LRU is flat either way"),
    "slab_chunk_max": ("same", "same class table; items above it are chunked differently "
                       "(see the deliberate differences)"),
    "no_chunked_items": ("same", "slab_chunk_max = 1 MB"),
    "modern": ("same", "a no-op, as in 1.6.18"),
    "loop": ("extra", "memcache_py only: `auto` (uvloop when installed), `uvloop`, `asyncio`"),
    "read_buf_mem_limit": ("differs", "caps the bytes all connections hold in get lines past "
                           "2048 bytes still waiting for their newline (past it: `SERVER_ERROR "
                           "out of memory reading request`, then close); 0 means 32 MB here "
                           "(memcached: no limit)"),
}

GLOB_READ = {"ssl_*"}            # globs whose options the daemon reads (not ignored)
GLOB_NOTES = {"ext_*": "extstore is not available; every `ext_` option is accepted and ignored",
              "ssl_*": "TLS with `-Z` (memcache_py/tls.py): every `ssl_` option of 1.6.18; "
                       "`ssl_wbuf_size` is accepted and shown (asyncio's TLS transport keeps "
                       "its own buffers), `ssl_keyformat` loads PEM only",
              "proxy_config": "proxy mode is not available"}

# stats names printed with a fixed value or never moved: why.
STAT_NOTES: dict[str, str] = {
    "libevent": "there is no libevent; the event loop is asyncio (or uvloop)",
    "version": "the memcached release whose behaviour is reproduced; tools parse it",
    "response_obj_oom": "memcached's response objects; none here",
    "response_obj_count": "memcached's response objects; none here",
    "response_obj_bytes": "memcached's response objects; none here",
    "read_buf_count": "memcached's read buffers; none here",
    "read_buf_bytes": "memcached's read buffers; none here",
    "read_buf_bytes_free": "memcached's read buffers; none here",
    "read_buf_oom": "memcached's read buffers; none here",
    "reserved_fds": "memcached's figure, printed as is",
    "pointer_size": "as memcached on 64-bit",
    "hash_power_level": "the key index is a Python dict; memcached's starting value",
    "hash_bytes": "the key index is a Python dict; memcached's starting value",
    "hash_is_expanding": "the key index is a Python dict",
    "malloc_fails": "the arena is allocated once at start",
    "time_in_listen_disabled_us": "the listener is never disabled",
    "listen_disabled_num": "the listener is never disabled (over `-c` clients are rejected)",
    "conn_yields": "`-R` is not enforced",
    "auth_cmds": "`-Y` logins (memcache_py/auth.py)",
    "auth_errors": "`-Y` logins refused",
    "unexpected_napi_ids": "no NAPI",
    "round_robin_fallback": "no NAPI",
    "slab_global_page_pool": "pages enter the pool only with `-o slab_reassign`",
    "free_chunks_end": "always 0 in memcached 1.6 too",
    "tailrepairs": "stuck items are never force-freed (memcached: only with tail_repair_time)",
}

# Fixed values that are what memcached prints too.
SAME_CONSTANTS = {"version", "pointer_size", "free_chunks_end"}

# `stats settings` values that differ from memcached 1.6.18's defaults: why.
SETTING_NOTES: dict[str, str] = {
    "inter": "default listen address is 127.0.0.1 (memcached: all interfaces, shown as NULL)",
    "slab_reassign": "off unless `-o slab_reassign` (as `-o no_modern`)",
    "slab_automove": "off unless `-o slab_automove` (as `-o no_modern`)",
    "lru_maintainer_thread": "no maintainer thread (as `-o no_modern`)",
    "lru_segmented": "the LRU is flat (as `-o no_modern`)",
}

# Commands of memcached 1.6.18 (spec/protocol.md §5, meta.md, stats.md §5), in that order.
COMMANDS = [
    "set", "add", "replace", "append", "prepend", "cas", "get", "gets", "gat", "gats", "bget",
    "touch", "delete", "incr", "decr", "flush_all", "version", "verbosity", "quit", "shutdown",
    "mg", "ms", "md", "ma", "mn", "me",
    "stats", "stats settings", "stats items", "stats slabs", "stats sizes",
    "stats sizes_enable", "stats sizes_disable", "stats conns", "stats reset", "stats detail",
    "stats cachedump",
    "cache_memlimit", "slabs reassign", "slabs automove", "lru_crawler crawl",
    "lru_crawler metadump", "lru_crawler sleep", "lru_crawler tocrawl", "lru_crawler enable",
    "lru_crawler disable", "lru tune", "lru mode", "lru temp_ttl", "watch", "refresh_certs",
]
TWO_WORD = {"stats", "slabs", "lru_crawler", "lru"}


# =============================================================================================
# Computed part
# =============================================================================================

def md(text: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


# ---- the differential corpus ----------------------------------------------------------------

def load_corpus():
    """[(corpus name, case)], and case name -> status text for every case that differs.

    Every tests/differential/corpus_*.py with a CASES list is read. Differences: the harness's
    EXPECTED_DIFFERENCES and a corpus's INTENDED_DIFFERENCES (deliberate), and a corpus's
    KNOWN_ISSUES (bugs the suite runs as strict xfails).
    """
    import importlib
    from tests.differential.harness import EXPECTED_DIFFERENCES
    cases, differs = [], {n: f"differs: {r}" for n, r in EXPECTED_DIFFERENCES.items()}
    for path in sorted((ROOT / "tests" / "differential").glob("corpus_*.py")):
        module = importlib.import_module(f"tests.differential.{path.stem}")
        name = path.stem.removeprefix("corpus_")
        cases += [(name, c) for c in getattr(module, "CASES", [])]
        differs.update((n, f"differs: {r}")
                       for n, r in getattr(module, "INTENDED_DIFFERENCES", {}).items())
        differs.update((n, f"known issue: {r}")
                       for n, r in getattr(module, "KNOWN_ISSUES", {}).items())
    order = {"classic": 0, "meta": 1}
    cases.sort(key=lambda nc: order.get(nc[0], 2))      # stable: corpus order within each
    return cases, differs


def case_lines(c) -> list[bytes]:
    """The command lines a case sends (data blocks included; callables skipped)."""
    data = b"".join(ch for ch in c.chunks if isinstance(ch, bytes))
    return [line.strip(b"\r").strip(b" ") for line in data.split(b"\n")]


def command_of(line: bytes) -> str | None:
    tokens = line.split()
    if not tokens:
        return None
    verb = tokens[0].decode("latin-1")
    if verb in TWO_WORD and len(tokens) > 1:
        sub = f"{verb} {tokens[1].decode('latin-1')}"
        if sub in COMMANDS:
            return sub
    return verb if verb in COMMANDS else None


def case_summary(c) -> str:
    if c.doc:
        return md(c.doc)
    if c.script is not None:
        return "multi-connection script"
    first = next((ch for ch in c.chunks if isinstance(ch, bytes)), b"")
    text = first.decode("latin-1")
    text = text.encode("unicode_escape").decode("ascii")
    if len(text) > 60:
        text = text[:57] + "..."
    return code(text) if text else ""


# ---- settings and the code that reads them ----------------------------------------------------

def _sources() -> dict[str, str]:
    paths = list((ROOT / "memcache_py").glob("*.py")) + list((ROOT / "allocator").glob("*.py"))
    return {p.name if p.parent.name == "memcache_py" else f"allocator/{p.name}": p.read_text()
            for p in sorted(paths)}


def settings_readers(sources: dict[str, str]) -> dict[str, list[str]]:
    """Settings field -> daemon modules (not settings.py) that read it."""
    from memcache_py.settings import Settings
    out = {}
    for f in dataclasses.fields(Settings):
        pat = re.compile(r"\b(?:settings|st)\.%s\b|getattr\(settings, \"%s\"" % (f.name, f.name))
        out[f.name] = [name for name, text in sources.items()
                       if name != "settings.py" and not name.startswith("allocator/")
                       and pat.search(text)]
    return out


def moved_attributes(sources: dict[str, str]) -> set[str]:
    """Attribute names that some code assigns to (counters that ever move)."""
    pat = re.compile(r"\.(\w+)\s*(?:\+=|-=|=(?!=))")
    names: set[str] = set()
    for text in sources.values():
        names.update(pat.findall(text))
    return names


def spec_flags(spec: str) -> list[tuple[str, str]]:
    """(flag, long flag) rows of spec/cli.md §1."""
    sec = spec.split("## 1.")[1].split("## 2.")[0]
    rows = []
    for line in sec.splitlines():
        if line.startswith("| `-"):
            cells = line.split("|")
            for flag in dict.fromkeys(re.findall(r"`(-[A-Za-z])", cells[1])):
                rows.append((flag, cells[2].strip().strip("`")))
    return rows


def spec_subopts(spec: str) -> list[str]:
    sec = spec.split("## 2.")[1].split("## 3.")[0]
    names = []
    for line in sec.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([a-z_*]+)", line.split("|")[1])
    return list(dict.fromkeys(names))


def flag_rows(spec: str, sources: dict[str, str]):
    from memcache_py.settings import OPTIONS
    readers = settings_readers(sources)
    by_flag = {}
    for row in OPTIONS:
        for f in row.flags[:1]:
            by_flag[f] = row
    seen = set()
    rows = []
    for flag, long in spec_flags(spec) + [(f, "") for f in by_flag]:
        if flag in seen:
            continue
        seen.add(flag)
        row = by_flag.get(flag)
        if row is None:
            status, note = "not supported", "refused at start: `invalid option` (exit 1)"
        elif flag in FLAG_NOTES:
            status, note = FLAG_NOTES[flag]
        elif row.field is None or readers.get(row.field):
            status, note = "same", ""
        else:
            status, note = "accepted, ignored", ("shown in `stats settings` as "
                                                 f"`{row.stat}`" if row.stat else "")
        longs = ", ".join(row.flags[1:]) if row else long
        rows.append((flag, longs, status, note))
    return rows


def subopt_rows(spec: str, sources: dict[str, str]):
    from memcache_py.settings import _IGNORED_SUBOPTS, OPTIONS
    readers = settings_readers(sources)
    ours = {row.subopt: row for row in OPTIONS if row.subopt}
    rows = []
    globs = [n for n in spec_subopts(spec) if "*" in n]
    for name in list(dict.fromkeys(spec_subopts(spec) + list(ours))):
        if "*" not in name and any(fnmatch.fnmatch(name, g) for g in globs):
            continue
        if "*" in name:
            matched = [n for n in ours if fnmatch.fnmatch(n, name)]
            status = "accepted, ignored" if matched else "not supported"
            if name in GLOB_READ and matched:
                status = "same"
            rows.append((name, status, GLOB_NOTES.get(name, "")))
            continue
        row = ours.get(name)
        if name in GLOB_NOTES:
            rows.append((name, "accepted, ignored" if row else "not supported", GLOB_NOTES[name]))
        elif row is None:
            rows.append((name, "not supported", "refused at start: `Illegal suboption` (exit 1)"))
        elif name in SUBOPT_NOTES:
            rows.append((name, *SUBOPT_NOTES[name]))
        elif name in _IGNORED_SUBOPTS:
            rows.append((name, "accepted, ignored", ""))
        elif row.field and readers.get(row.field):
            rows.append((name, "same", ""))
        else:
            shown = f"validated as memcached does; shown in `stats settings` as `{row.stat}`" \
                if row.stat else "validated as memcached does"
            rows.append((name, "accepted, ignored", shown))
    return rows


# ---- stats ---------------------------------------------------------------------------------------

def stats_expressions() -> dict[str, ast.AST]:
    """stat name -> the expression memcache_py/stats.py prints for it."""
    tree = ast.parse((ROOT / "memcache_py" / "stats.py").read_text())
    out: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Tuple) and len(node.elts) == 2
                and isinstance(node.elts[0], ast.Constant) and isinstance(node.elts[0].value, str)):
            out.setdefault(node.elts[0].value, node.elts[1])
    return out


def counter_fields() -> set[str]:
    from allocator.stats import ItemClassStats, SlabClassCounters
    from memcache_py.counters import ServerStats
    return {f.name for cls in (ServerStats, ItemClassStats, SlabClassCounters)
            for f in dataclasses.fields(cls)}


def stat_kind(name: str, exprs, moved: set[str], counters: set[str]) -> tuple[str, str]:
    """('same'|'constant', note) for a name memcache_py prints."""
    expr = exprs.get(name)
    note = STAT_NOTES.get(name, "")
    if isinstance(expr, ast.Name) and expr.id.isupper():      # a module constant (VERSION)
        import memcache_py.stats
        expr = ast.Constant(getattr(memcache_py.stats, expr.id))
    if isinstance(expr, ast.Constant):
        status = "same" if name in SAME_CONSTANTS else "constant"
        return status, f"always `{expr.value}`" + (f": {note}" if note else "")
    if expr is not None:
        attrs = {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)} & counters
        if attrs and not attrs & moved:
            return "constant", "always `0`" + (f": {note}" if note else "")
    return "same", note


def spec_table(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-\s|]+\|$", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # drop the header


def spec_general_stats(spec: str) -> list[tuple[str, str]]:
    """(name, meaning) of spec/stats.md §1, expanding comma lists."""
    sec = spec.split("## 1.")[1].split("## 2.")[0]
    out = []
    for cells in spec_table(sec):
        for name in cells[1].split(","):
            out.append((name.strip().strip("`"), cells[2]))
    return out


def _conditional(meaning: str) -> str | None:
    m = meaning.lower()
    if "segmented" in m:
        return "segmented LRU"
    if "slab_reassign" in m:
        return "slab rebalancing"
    if "crawler" in m and "only" in m:
        return "the LRU crawler thread"
    if "maintainer" in m:
        return "the LRU maintainer thread"
    return None


def general_stats_rows(spec: str, sources: dict[str, str]):
    from memcache_py.server import build_daemon
    from memcache_py.settings import Settings
    from memcache_py.stats import general_stats
    d = build_daemon(Settings(idle_timeout=1))
    ours = [name for name, _ in general_stats(d.stats, d.cache.store, d.settings, d.clock,
                                              curr_connections=0, accepting=True)]
    exprs, moved, counters = stats_expressions(), moved_attributes(sources), counter_fields()
    rows = []
    previous = None
    for name, meaning in spec_general_stats(spec):
        why = previous if meaning.strip("* ") == "same" else _conditional(meaning)
        previous = why
        if name in ours:
            status, note = stat_kind(name, exprs, moved, counters)
            if name == "idle_kicks":
                note = "printed when `-o idle_timeout` > 0, as memcached"
            if name == "rejected_connections":
                note = "printed unless `-o no_maxconns_fast`/`no_modern`, as memcached"
        elif why:
            status, note = "absent", f"memcached prints it only with {why} (default on; off " \
                                     "with `-o no_modern`); memcache_py has none"
        else:
            raise SystemExit(f"gen_compat: stats field {name!r} of spec/stats.md is not printed "
                             "and has no reason; add one to STAT_NOTES")
        rows.append((name, status, note))
    for name in ours:
        if name not in {n for n, _ in spec_general_stats(spec)}:
            rows.append((name, "extra", "not in memcached 1.6.18's list"))
    return rows


def settings_rows(spec: str):
    from memcache_py.settings import Settings, settings_stats
    ours = dict(settings_stats(Settings()))
    sec = spec.split("## 2.")[1].split("## 3.")[0]
    rows = []
    spec_names = set()
    for cells in spec_table(sec):
        name, default = cells[0].strip("`"), cells[1]
        if "…" in name:
            first = name.split("…")[0].strip()
            if first in ours:           # the TLS block: Debian builds memcached with TLS
                rows.append((name, "same", "as memcached built with TLS (Debian's 1.6.18), "
                             "compared by tests/differential/test_security_vs_memcached.py"))
                spec_names.update(n for n in ours if n.startswith(first.split("_")[0] + "_"))
            else:
                rows.append((name, "absent", cells[2].replace("*", "").split(";")[0]))
            continue
        spec_names.add(name)
        want = default.split(" (")[0].strip()
        have = ours.get(name)
        if have is None:
            raise SystemExit(f"gen_compat: `stats settings` has no {name!r}")
        if want.startswith("=") or want == "" or have == want or \
                (name == "num_threads_per_udp" and have == ours.get("num_threads")):
            rows.append((name, "same", f"`{have}`"))
        elif name in SETTING_NOTES:
            rows.append((name, "differs", f"`{have}` (memcached: `{want}`): {SETTING_NOTES[name]}"
                         if SETTING_NOTES[name] else f"`{have}` (memcached: `{want}`)"))
        else:
            raise SystemExit(f"gen_compat: stats settings {name!r}: ours {have!r}, memcached "
                             f"{want!r}, and no reason in SETTING_NOTES")
    for name in ours:
        if name not in spec_names:
            rows.append((name, "extra", f"`{ours[name]}`"))
    return rows


def field_rows(spec: str, section: str, ours: list[str], sources):
    sec = spec.split(f"## {section}.")[1].split("\n## ")[0]
    exprs, moved, counters = stats_expressions(), moved_attributes(sources), counter_fields()
    rows = []
    names = []
    for cells in spec_table(sec):
        seg = len(cells) > 3 and cells[2] in ("yes", "only if temp_lru")
        for name in re.split(r"\s*/\s*", cells[0].strip("`")):
            name = name.strip("`")
            names.append(name)
            if name in ours:
                rows.append((name, *stat_kind(name, exprs, moved, counters)))
            elif seg:
                rows.append((name, "absent", "segmented LRU only (absent with `-o no_modern`)"))
            else:
                raise SystemExit(f"gen_compat: {name!r} of stats.md §{section} is not printed")
    for name in ours:
        if name not in names:
            rows.append((name, *stat_kind(name, exprs, moved, counters)))
    return rows


# ---- rendering -------------------------------------------------------------------------------

def table(header: list[str], rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md(c) if i else c for i, c in enumerate(r)) + " |" for r in rows]
    return out


def count(rows, col: int) -> str:
    seen: dict[str, int] = {}
    for r in rows:
        seen[r[col]] = seen.get(r[col], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in seen.items())


def render() -> str:
    from memcache_py.parser import PARSERS
    sources = _sources()
    shared = shared_dir()
    cli_spec = (shared / "spec" / "cli.md").read_text()
    stats_spec = (shared / "spec" / "stats.md").read_text()
    cases, expected = load_corpus()

    # commands <- parser table + corpus coverage
    verbs = {v.decode() for v in PARSERS}
    unknown = verbs - {c.split()[0] for c in COMMANDS}
    if unknown:
        raise SystemExit(f"gen_compat: parser verbs not in COMMANDS: {sorted(unknown)}")
    covering: dict[str, list[str]] = {c: [] for c in COMMANDS}
    for _, c in cases:
        for cmd in {command_of(line) for line in case_lines(c)} - {None}:
            covering[cmd].append(c.name)
    cmd_rows = []
    for cmd in COMMANDS:
        names = covering[cmd]
        # an expected difference is about the command its case is named after (meta_me_ttl: me)
        diffs = [n for n in names if n in expected and cmd.replace(" ", "_") in n.split("_")]
        if cmd in COMMAND_NOTES:
            status, note = COMMAND_NOTES[cmd]
        elif cmd.split()[0] not in verbs:
            status, note = "not supported", "answers `ERROR`"
        elif diffs:
            status = "known issue" if all(expected[n].startswith("known") for n in diffs) \
                else "differs"
            note = "; ".join(f"`{n}`: {expected[n].split(': ', 1)[1]}" for n in diffs)
        elif names:
            status, note = "same", ""
        else:
            status, note = "same", "not in the differential corpus"
        shown = ", ".join(f"`{n}`" for n in names[:4]) + (f" +{len(names) - 4}"
                                                          if len(names) > 4 else "")
        cmd_rows.append((f"`{cmd}`", status, str(len(names)), shown, note))

    flags = flag_rows(cli_spec, sources)
    subopts = subopt_rows(cli_spec, sources)
    general = general_stats_rows(stats_spec, sources)
    settings = settings_rows(stats_spec)
    from memcache_py.server import build_daemon
    from memcache_py.settings import Settings
    from memcache_py.stats import items_stats, slabs_stats
    d = build_daemon(Settings())
    store = d.cache.store
    off = store.reserve(b"k", 0, 0, 1, d.clock.current)
    store.link(off, b"k")
    slab_names = [k.split(":", 1)[1] if ":" in k else k for k, _ in slabs_stats(store)]
    item_names = [k.split(":", 2)[2] for k, _ in items_stats(store, d.clock.current)]
    slabs = field_rows(stats_spec, "3", slab_names, sources)
    items = field_rows(stats_spec, "4", item_names, sources)

    out = [
        "<!-- Generated by tools/gen_compat.py; do not edit. Regenerate with "
        "`python tools/gen_compat.py`; tests/unit/test_docs.py fails when this file is stale. -->",
        "",
        "# Compatibility with memcached 1.6.18",
        "",
        "The reference is memcached 1.6.18 started with `-o no_modern` (the classic flat LRU "
        "this daemon reproduces). Every row below is computed from the code and the tests:",
        "",
        "- **commands**: the verbs `memcache_py/parser.py` accepts, and the differential "
        "cases (`tests/differential/`) that send each one to memcached and to memcache_py and "
        "compare the replies byte for byte. \"same\" means every case that sends the command "
        "passes the differential suite unless it is listed as an expected difference;",
        "- **flags**: `memcache_py/settings.py`'s `OPTIONS` table against `spec/cli.md`; an "
        "option the daemon never reads is \"accepted, ignored\". Rejected options (exit status "
        "and stderr) are compared with memcached by `tests/differential/test_cli_vs_memcached.py`;",
        "- **stats**: the names `memcache_py/stats.py` prints against `spec/stats.md`. "
        "\"constant\" means printed with a fixed value (a literal in the code, or a counter "
        "nothing ever increments): tools that read it get a number, but it measures nothing "
        "here; \"absent\" means not printed.",
        "",
        "Status words: **same**, **differs** (with the reason), **known issue** (a difference "
        "the differential suite records as a bug to fix), **not supported**, "
        "**accepted, ignored** (parsed and validated like memcached, no effect), **extra** "
        "(memcache_py only).",
        "",
        "## Differences to know first",
        "",
        *table(["What", "memcached 1.6.18", "memcache_py", "Why", "Where it shows"],
               DELIBERATE),
        "",
        f"## Commands ({count(cmd_rows, 1)})",
        "",
        *table(["Command", "Status", "Cases", "Differential cases", "Notes"], cmd_rows),
        "",
        f"## Command-line flags ({count(flags, 2)})",
        "",
        *table(["Flag", "Long form", "Status", "Notes"],
               [(f"`{f}`", f"`{lf}`" if lf else "", s, n) for f, lf, s, n in flags]),
        "",
        f"## `-o` options ({count(subopts, 1)})",
        "",
        *table(["Option", "Status", "Notes"], [(f"`{n}`", s, t) for n, s, t in subopts]),
        "",
        f"## `stats` ({count(general, 1)})",
        "",
        "In memcached's order; memcached-tool, Prometheus' memcached_exporter and pymemcache "
        "parse these lines (see [operations.md](operations.md)).",
        "",
        *table(["Field", "Status", "Notes"], [(f"`{n}`", s, t) for n, s, t in general]),
        "",
        f"## `stats settings` ({count(settings, 1)})",
        "",
        "Values compared with memcached 1.6.18's defaults (without `-o no_modern`).",
        "",
        *table(["Field", "Status", "memcache_py default / notes"],
               [(f"`{n}`", s, t) for n, s, t in settings]),
        "",
        f"## `stats slabs` per-class fields and totals ({count(slabs, 1)})",
        "",
        *table(["Field", "Status", "Notes"], [(f"`{n}`", s, t) for n, s, t in slabs]),
        "",
        f"## `stats items` per-class fields ({count(items, 1)})",
        "",
        *table(["Field", "Status", "Notes"], [(f"`{n}`", s, t) for n, s, t in items]),
        "",
        f"## The differential corpus ({len(cases)} cases, "
        f"{sum(1 for _, c in cases if c.name in expected)} that differ)",
        "",
        "Run it with `python -m pytest tests/differential -q`; one case side by side with "
        "`python -m tests.differential.harness --case NAME` (tests/differential/README.md).",
        "",
        *table(["Case", "Corpus", "Flags", "What it checks", "Status"],
               [(f"`{c.name}`", corpus, md(" ".join(c.flags)) if c.flags else "",
                 case_summary(c),
                 expected.get(c.name, "same"))
                for corpus, c in cases]),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write (default: %(default)s)")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run python tools/gen_compat.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
