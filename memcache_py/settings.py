"""Settings: every option of the daemon, declared once, and memcached 1.6.18's checks on them.

`OPTIONS` is the one table (Pelikan's SLAB_OPTION): each row names the `Settings` field it sets,
its flags or `-o` name, how the argument is parsed and checked (memcached's atoi/strtoul rules and
its exact stderr messages and exit codes), its help line and its `stats settings` line. The
argparse parser, `-h` and `settings_stats()` are all generated from it, in memcached's order.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

from allocator.slabclass import DEFAULT_SLAB_CHUNK_MAX, PAGE_SIZE

from . import cnum

VERSION_LINE = "memcached 1.6.18"   # what -V prints: tools parse this line
EX_USAGE = 64                      # sysexits.h, memcached's exit status for most -I/-m/-B errors
EX_CONFIG = 1                      # memcached's `return 1` from main() for in-loop checks
MB = 1024 * 1024
ITEM_SIZE_MAX_LOWER_LIMIT = 1024          # memcached.h
ITEM_SIZE_MAX_UPPER_LIMIT = 1024 * MB     # memcached.h: 1 GB


class SettingsError(Exception):
    """A bad option: `message` goes to stderr and the process exits with `status`."""

    def __init__(self, message: str, status: int = EX_CONFIG):
        super().__init__(message)
        self.message = message
        self.status = status


class InfoRequest(Exception):
    """-h, -V or -i: print `text` to stdout and exit 0."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class Settings:
    """The daemon's configuration; defaults are memcached's except `listen`."""

    memory_limit: int = 64 * MB            # -m, bytes (`maxbytes`)
    max_connections: int = 1024            # -c
    port: int = 11211                      # -p; -1 ephemeral, 0 no TCP
    udp_port: int = 0                      # -U; accepted, UDP is not served
    listen: tuple[str, ...] = ("127.0.0.1",)  # -l; memcached's default is all interfaces
    verbosity: int = 0                     # -v count
    evictions: bool = True                 # -M sets False
    unix_socket: str | None = None         # -s
    unix_mask: int = 0o700                 # -a, octal
    shutdown_enabled: bool = False         # -A
    growth_factor: float = 1.25            # -f
    chunk_size: int = 48                   # -n
    threads: int = 4                       # -t; shown in stats only
    stat_key_prefix: str = ":"             # -D
    detail_enabled: bool = False           # turned on by -D
    reqs_per_event: int = 20               # -R
    cas_enabled: bool = True               # -C sets False
    tcp_backlog: int = 1024                # -b
    binding_protocol: str = "auto"         # -B ascii|binary|auto; only ascii is served
    sasl: bool = False                     # -S; accepted and ignored
    item_size_max: int = MB                # -I
    maxconns_fast: bool = True             # -o (no_)maxconns_fast
    hashpower: int = 0                     # -o hashpower
    slab_reassign: bool = True             # -o (no_)slab_reassign: the page mover
    slab_automove: int = 1                 # -o slab_automove=0|1|2
    slab_automove_ratio: float = 0.8       # -o slab_automove_ratio
    slab_automove_window: int = 30         # -o slab_automove_window
    slab_chunk_max: int = DEFAULT_SLAB_CHUNK_MAX  # -o slab_chunk_max, bytes
    lru_crawler: bool = True               # -o (no_)lru_crawler: the LRU crawler task
    lru_maintainer: bool = True            # -o (no_)lru_maintainer: the maintainer's tasks
    lru_crawler_sleep: int = 100           # -o lru_crawler_sleep, microseconds
    lru_crawler_tocrawl: int = 0           # -o lru_crawler_tocrawl
    tail_repair_time: int = 0              # -o tail_repair_time
    flush_enabled: bool = True             # -F sets False
    dump_enabled: bool = True              # -X sets False
    hash_algorithm: str = "murmur3"        # -o hash_algorithm; jenkins with no_modern
    hot_lru_pct: int = 20                  # -o hot_lru_pct
    warm_lru_pct: int = 40                 # -o warm_lru_pct
    hot_max_factor: float = 0.2            # -o hot_max_factor
    warm_max_factor: float = 2.0           # -o warm_max_factor
    temporary_ttl: int = 61                # -o temporary_ttl
    idle_timeout: int = 0                  # -o idle_timeout, seconds; > 0 enables
    watcher_logbuf_size: int = 256 * 1024  # -o watcher_logbuf_size, bytes
    worker_logbuf_size: int = 64 * 1024    # -o worker_logbuf_size, bytes
    read_buf_mem_limit: int = 0            # -o read_buf_mem_limit, bytes
    track_sizes: bool = False              # -o track_sizes
    napi_ids: int = 0                      # -N
    no_modern: bool = False                # -o no_modern
    loop: str = "auto"                     # -o loop=auto|uvloop|asyncio (ours)
    watch_enabled: bool = True             # -W sets False
    daemonize: bool = False                # -d
    pidfile: str | None = None             # -P
    user: str | None = None                # -u; accepted and ignored
    lock_memory: bool = False              # -k; accepted and ignored
    large_pages: bool = False              # -L; accepted and ignored
    core_dumps: bool = False               # -r; accepted and ignored
    ssl_enabled: bool = False              # -Z: TLS on every TCP listener but notls: ones
    ssl_chain_cert: str | None = None      # -o ssl_chain_cert, PEM
    ssl_key: str | None = None             # -o ssl_key
    ssl_verify_mode: int = 0               # -o ssl_verify_mode, 0..3 as given (tls.py)
    ssl_keyformat: int = 1                 # -o ssl_keyformat, SSL_FILETYPE_PEM
    ssl_ciphers: str | None = None         # -o ssl_ciphers, an OpenSSL cipher list
    ssl_ca_cert: str | None = None         # -o ssl_ca_cert, CAs for client certificates
    ssl_wbuf_size: int = 16 * 1024         # -o ssl_wbuf_size, bytes; accepted (asyncio buffers)
    ssl_session_cache: bool = False        # -o ssl_session_cache
    ssl_kernel_tls: bool = False           # -o ssl_kernel_tls
    ssl_min_version: int = 2               # -o ssl_min_version, 0..3: tlsv1.0 .. tlsv1.3
    auth_file: str | None = None           # -Y: ASCII authentication (auth.py)
    memory_file: str | None = None         # -e: the arena in a file, warm restart (restart.py)


@dataclass(slots=True)
class _ParseState:
    """What the parser has seen so far (memcached keeps these as locals of main())."""

    values: dict[str, Any]
    warn: Callable[[str], None]
    listen_given: bool = False
    slab_chunk_max_changed: bool = False   # memcached's slab_chunk_size_changed
    lru_maintainer: bool = True            # memcached's start_lru_maintainer
    temp_lru: bool = False                 # set by temporary_ttl
    protocol_given: bool = False           # memcached's protocol_specified (-B)


Parse = Callable[[str | None, _ParseState], Any]


@dataclass(frozen=True, slots=True)
class Option:
    """One row of the table: how a value is set (flag or -o name) and how stats show it."""

    field: str | None                  # Settings field `parse` sets; None: actions, derived stats
    flags: tuple[str, ...] = ()        # short flag first, then memcached's getopt_long name
    subopt: str | None = None          # name under -o
    parse: Parse | None = None         # (argument or None, state) -> value; raises SettingsError
    takes_arg: bool = True             # flags only: whether the flag consumes an argument
    metavar: str = ""                  # shown in -h after the long flag
    help: str = ""                     # -h text; empty hides the row from -h
    stat: str | None = None            # `stats settings` name
    show: Callable[[Any], str] = str   # formats the value for `stats settings`
    derive: Callable[[Settings, int], Any] | None = None  # stat value not stored in a field


# ---- memcached's number parsing ------------------------------------------------------------

_INT_PREFIX = re.compile(r"\s*([+-]?\d+)")
_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _int32(value: int) -> int:
    """Wrap to a C int the way a 64-bit long narrows to int."""
    value = max(-(1 << 63), min(value, (1 << 63) - 1))
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def atoi(text: str) -> int:
    """C atoi(): the leading integer, 0 when there is none."""
    m = _INT_PREFIX.match(text)
    return _int32(int(m.group(1))) if m else 0


def atof(text: str) -> float:
    """C atof(): the leading decimal number, 0.0 when there is none."""
    m = _FLOAT_PREFIX.match(text)
    return float(m.group(1)) if m else 0.0


def safe_strtoul(text: str) -> int | None:
    """memcached's safe_strtoul into a uint32_t (cnum.safe_strtoul, for argv strings)."""
    return cnum.safe_strtoul(text.encode("utf-8", "surrogateescape"))


def _strtol8(text: str) -> int:
    """strtol(text, NULL, 8): the leading octal number, 0 when there is none."""
    m = re.match(r"\s*([+-]?[0-7]+)", text)
    return int(m.group(1), 8) if m else 0


# ---- parsers: (argument, state) -> value, in memcached's words ------------------------------

def _fail(message: str, status: int = EX_CONFIG):
    raise SettingsError(message, status)


def _const(value: Any) -> Parse:
    return lambda raw, st: value


def _need(raw: str | None, message: str) -> str:
    if raw is None:
        _fail(message)
    return raw


def _positive(message: str) -> Parse:
    def parse(raw, st):
        value = atoi(raw)
        if value <= 0:
            _fail(message)
        return value
    return parse


def _item_size(raw, st):
    # -I: a number with an optional k/m suffix, multiplied in a C int (so 2048m wraps).
    unit = raw[-1:].lower()
    if unit in ("k", "m"):
        return _int32(atoi(raw[:-1]) * (1024 if unit == "k" else MB))
    return atoi(raw)


def _factor(raw, st):
    value = atof(raw)
    if value <= 1.0:
        _fail("Factor must be greater than 1")
    return value


def _threads(raw, st):
    value = atoi(raw)
    if value <= 0:
        _fail("Number of threads must be greater than 0")
    if value > 64:
        st.warn("WARNING: Setting a high number of workerthreads is not recommended.\n"
                " Set this value to the number of cores in your machine or less.")
    return value


def _protocol(raw, st):
    st.protocol_given = True
    if raw not in ("auto", "binary", "ascii"):
        _fail(f"Invalid value for binding protocol: {raw}\n"
              " -- should be one of auto, binary, or ascii", EX_USAGE)
    return raw


def _listen(raw, st):
    # Repeated -l extends the list (memcached joins them with ','); the first replaces our default.
    previous = st.values["listen"] if st.listen_given else ()
    st.listen_given = True
    return previous + tuple(part for part in raw.split(",") if part)


def _prefix(raw, st):
    st.values["detail_enabled"] = True
    return raw[:1]


def _verbose(raw, st):
    return st.values["verbosity"] + 1


def _help(raw, st):
    raise InfoRequest(usage())


def _version(raw, st):
    raise InfoRequest(VERSION_LINE)


def _license(raw, st):
    raise InfoRequest("memcache_py is distributed under the BSD 3-Clause license.\n"
                      "It follows memcached: Copyright (c) 2003, Danga Interactive, Inc.;\n"
                      "BSD license.")


def _subopt_int(missing: str, check: Callable[[int], str | None] | None = None) -> Parse:
    """An atoi() suboption with memcached's 'missing' message and an optional range check."""
    def parse(raw, st):
        value = atoi(_need(raw, missing))
        if check and (message := check(value)):
            _fail(message)
        return value
    return parse


def _subopt_uint(missing: str, message: str, scale: int = 1,
                 check: Callable[[int], bool] = lambda v: True) -> Parse:
    """A safe_strtoul() suboption: unparsable or out of range gives `message`."""
    def parse(raw, st):
        value = safe_strtoul(_need(raw, missing))
        if value is None or not check(value):
            _fail(message)
        return value * scale
    return parse


def _subopt_factor(name: str) -> Parse:
    def parse(raw, st):
        value = atof(_need(raw, f"Missing {name} argument"))
        if value <= 0:
            _fail(f"{name} must be > 0")
        return value
    return parse


def _hashpower(value: int) -> str | None:
    if value < 12:
        return f"Initial hashtable multiplier of {value} is too low"
    if value > 32:
        return (f"Initial hashtable multiplier of {value} is too high\n"
                'Choose a value based on "STAT hash_power_level" from a running instance')
    return None


def _automove(raw, st):
    value = 1 if raw is None else atoi(raw)
    if not 0 <= value <= 2:
        _fail("slab_automove must be between 0 and 2")
    return value


def _automove_ratio(raw, st):
    value = atof(_need(raw, "Missing slab_automove_ratio argument"))
    if value <= 0 or value > 1:
        _fail("slab_automove_ratio must be > 0 and < 1")
    return value


def _slab_chunk_max(raw, st):
    st.slab_chunk_max_changed = True
    return atoi(_need(raw, "Missing slab_chunk_max argument"))


def _temporary_ttl(raw, st):
    st.temp_lru = True
    return atoi(_need(raw, "Missing temporary_ttl argument"))


def _hash_algorithm(raw, st):
    if _need(raw, "Missing hash_algorithm argument") not in ("jenkins", "murmur3", "xxh3"):
        _fail("Unknown hash_algorithm option (jenkins, murmur3, xxh3)")
    return raw


def _loop(raw, st):
    if _need(raw, "Missing loop argument") not in ("auto", "uvloop", "asyncio"):
        _fail("Unknown loop option (auto, uvloop, asyncio)")
    return raw


def _subopt_str(name: str) -> Parse:
    return lambda raw, st: _need(raw, f"Missing {name} argument")


def _subopt_strtol(name: str) -> Parse:
    def parse(raw, st):
        value = cnum.safe_strtol(_need(raw, f"Missing {name} argument").encode(
            "utf-8", "surrogateescape"))
        if value is None:
            _fail(f"could not parse argument to {name}")
        return value
    return parse


SSL_VERIFY_FLAGS = {0: 0, 1: 1, 2: 3, 3: 7}    # mode -> OpenSSL's SSL_VERIFY_* bits (stats)
SSL_VERSION_NAMES = {0: "tlsv1.0", 1: "tlsv1.1", 2: "tlsv1.2", 3: "tlsv1.3"}


def _ssl_choice(name: str, valid) -> Parse:
    strtol = _subopt_strtol(name)

    def parse(raw, st):
        value = strtol(raw, st)
        if value not in valid:
            _fail(f"Invalid {name}. Use help to see valid options.")
        return value
    return parse


_ssl_verify_mode = _ssl_choice("ssl_verify_mode", SSL_VERIFY_FLAGS)
_ssl_min_version = _ssl_choice("ssl_min_version", SSL_VERSION_NAMES)


def _lru_maintainer(on: bool) -> Parse:
    def parse(raw, st):
        st.lru_maintainer = on
        return on
    return parse


def _no_modern(raw, st):
    # memcached 1.6.18: 1.4-style defaults (a flat LRU, as this daemon always has).
    if not st.slab_chunk_max_changed:
        st.values["slab_chunk_max"] = PAGE_SIZE
    st.values.update(maxconns_fast=False, hash_algorithm="jenkins", lru_crawler=False,
                     slab_reassign=False, slab_automove=0)
    st.lru_maintainer = False
    return True


def _no_chunked_items(raw, st):
    st.values["slab_chunk_max"] = PAGE_SIZE


def _suboptions(raw, st):
    # getsubopt(3) over "name[=value],...": an empty token is illegal, a trailing comma is not.
    tokens = raw.split(",")
    if tokens[-1] == "":
        tokens.pop()
    for token in tokens:
        name, eq, value = token.partition("=")
        row = _SUBOPTS.get(name)
        if row is None:
            _fail(f'Illegal suboption "{token}"')
        _apply(row, value if eq else None, st)


def _apply(row: Option, raw: str | None, st: _ParseState) -> None:
    value = row.parse(raw, st) if row.parse else None
    if row.field is not None:
        st.values[row.field] = value


# ---- stats formatting ----------------------------------------------------------------------

def _yesno(value: Any) -> str:
    return "yes" if value else "no"


def _f2(value: float) -> str:
    return f"{value:.2f}"


def _null(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _cnull(value: Any) -> str:
    """printf's %s of a NULL pointer, as glibc prints it."""
    return "(null)" if value is None else str(value)


_PROTOCOL_NAMES = {"auto": "auto-negotiate", "ascii": "ascii", "binary": "binary"}

# Options memcached accepts that this daemon ignores (extstore, TLS, proxy, hash table tuning).
_IGNORED_SUBOPTS = (
    "modern", "no_hashexpand",
    "drop_privileges", "no_drop_privileges", "relaxed_privileges",
    "slab_sizes", "slab_automove_freeratio", "inline_ascii_resp", "sock_cookie_id",
    "ext_path", "ext_wbuf_size", "ext_threads", "ext_io_depth", "ext_page_size", "ext_item_size",
    "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_compact_under", "ext_drop_under",
    "ext_max_sleep", "ext_max_frag", "ext_drop_unread", "proxy_config",
)

# ---- the table: rows with a `stat` are in memcached 1.6.18's `stats settings` order ----------

O = Option
OPTIONS: tuple[Option, ...] = (
    O("memory_limit", ("-m", "--memory-limit"), parse=lambda raw, st: atoi(raw) * MB,
      metavar="<num>", help="item memory in megabytes (default: 64)", stat="maxbytes"),
    O("max_connections", ("-c", "--conn-limit"),
      parse=_positive("Maximum connections must be greater than 0"),
      metavar="<num>", help="max simultaneous connections (default: 1024)", stat="maxconns"),
    O("port", ("-p", "--port"), parse=lambda raw, st: atoi(raw), metavar="<num>",
      help="TCP port to listen on (default: 11211, 0: off, -1: ephemeral)", stat="tcpport"),
    O("udp_port", ("-U", "--udp-port"), parse=lambda raw, st: atoi(raw), metavar="<num>",
      help="UDP port (default: 0, off; accepted, UDP is not served)", stat="udpport"),
    O("listen", ("-l", "--listen"), parse=_listen, metavar="<addr>",
      help="interface to listen on (default: 127.0.0.1)\n"
           "comma separated and/or repeated: host, host:port, [v6]:port",
      stat="inter", show=lambda v: ",".join(v) or "NULL"),
    O("verbosity", ("-v", "--verbose"), parse=_verbose, takes_arg=False,
      help="verbose (print errors/warnings while in event loop)\n"
           "-vv: very verbose (also print the slab class table at start)", stat="verbosity"),
    O(None, stat="oldest", derive=lambda s, oldest: oldest),
    O("evictions", ("-M", "--disable-evictions"), parse=_const(False), takes_arg=False,
      help="return error on memory exhausted instead of evicting",
      stat="evictions", show=lambda v: "on" if v else "off"),
    O("unix_socket", ("-s", "--unix-socket"), parse=lambda raw, st: raw, metavar="<file>",
      help="UNIX socket to listen on (disables network support)", stat="domain_socket", show=_null),
    O("unix_mask", ("-a", "--unix-mask"), parse=lambda raw, st: _strtol8(raw), metavar="<mask>",
      help="access mask for UNIX socket, in octal (default: 700)", stat="umask",
      show=lambda v: f"{v:o}"),
    O("shutdown_enabled", ("-A", "--enable-shutdown"), parse=_const(True), takes_arg=False,
      help='enable ascii "shutdown" command', stat="shutdown_command", show=_yesno),
    O("growth_factor", ("-f", "--slab-growth-factor"), parse=_factor, metavar="<num>",
      help="chunk size growth factor (default: 1.25)", stat="growth_factor", show=_f2),
    O("chunk_size", ("-n", "--slab-min-size"),
      parse=_positive("Chunk size must be greater than 0"), metavar="<bytes>",
      help="min space used for key+value+flags (default: 48)", stat="chunk_size"),
    O("threads", ("-t", "--threads"), parse=_threads, metavar="<num>",
      help="number of threads (default: 4; accepted, one event loop serves)", stat="num_threads"),
    O(None, stat="num_threads_per_udp", derive=lambda s, oldest: s.threads),
    O("stat_key_prefix", ("-D",), parse=_prefix, metavar="<char>",
      help="delimiter between key prefixes and IDs for 'stats detail';\n"
           "also turns detail collection on (default: ':')", stat="stat_key_prefix"),
    O("detail_enabled", stat="detail_enabled", show=_yesno),
    O("reqs_per_event", ("-R", "--max-reqs-per-event"),
      parse=_positive("Number of requests per event must be greater than 0"), metavar="<num>",
      help="maximum number of requests per event (default: 20)", stat="reqs_per_event"),
    O("cas_enabled", ("-C", "--disable-cas"), parse=_const(False), takes_arg=False,
      help="disable use of CAS", stat="cas_enabled", show=_yesno),
    O("tcp_backlog", ("-b", "--listen-backlog"), parse=lambda raw, st: atoi(raw), metavar="<num>",
      help="set the backlog queue limit (default: 1024)", stat="tcp_backlog"),
    O("binding_protocol", ("-B", "--protocol"), parse=_protocol, metavar="<name>",
      help="protocol - one of ascii, binary, or auto (default: auto-negotiate)\n"
           "(binary is accepted; only ascii is served)",
      stat="binding_protocol", show=_PROTOCOL_NAMES.__getitem__),
    O("sasl", ("-S", "--enable-sasl"), parse=_const(True), takes_arg=False,
      stat="auth_enabled_sasl", show=_yesno),
    O("auth_file", ("-Y", "--auth-file"), parse=lambda raw, st: raw, metavar="<file>",
      help="enable ASCII protocol authentication. format:\nuser:pass\\nuser2:pass2\\n",
      stat="auth_enabled_ascii", show=lambda v: v or "no"),
    O("item_size_max", ("-I", "--max-item-size"), parse=_item_size, metavar="<num>",
      help="adjusts max item size\n(default: 1m, min: 1k, max: 1024m)", stat="item_size_max"),
    O("maxconns_fast", subopt="maxconns_fast", parse=_const(True),
      help="immediately close new connections after limit (default: enabled)",
      stat="maxconns_fast", show=_yesno),
    O("maxconns_fast", subopt="no_maxconns_fast", parse=_const(False)),
    O("hashpower", subopt="hashpower",
      parse=_subopt_int("Missing numeric argument for hashpower", _hashpower),
      help="initial hash table size power (accepted, default: 0)", stat="hashpower_init"),
    O("slab_reassign", subopt="slab_reassign", parse=_const(True),
      help="the page mover: `slabs reassign`, automove (default: on)",
      stat="slab_reassign", show=_yesno),
    O("slab_reassign", subopt="no_slab_reassign", parse=_const(False)),
    O("slab_automove", subopt="slab_automove", parse=_automove,
      help="0: off, 1: move pages by eviction age once a second, 2: on every eviction",
      stat="slab_automove"),
    O("slab_automove", subopt="no_slab_automove", parse=_const(0)),
    O("slab_automove_ratio", subopt="slab_automove_ratio", parse=_automove_ratio,
      stat="slab_automove_ratio", show=_f2),
    O("slab_automove_window", subopt="slab_automove_window",
      parse=_subopt_int("Missing slab_automove_window argument",
                        lambda v: None if v > 2 else "slab_automove_window must be > 2"),
      stat="slab_automove_window"),
    O("slab_chunk_max", subopt="slab_chunk_max", parse=_slab_chunk_max,
      help="largest slab class in bytes; must divide 1m and -I (default: 524288)",
      stat="slab_chunk_max"),
    O("lru_crawler", subopt="lru_crawler", parse=_const(True), stat="lru_crawler", show=_yesno),
    O("lru_crawler", subopt="no_lru_crawler", parse=_const(False)),
    O("lru_crawler_sleep", subopt="lru_crawler_sleep",
      parse=_subopt_int("Missing lru_crawler_sleep value",
                        lambda v: None if 0 <= v <= 1000000
                        else "LRU crawler sleep must be between 0 and 1 second"),
      stat="lru_crawler_sleep"),
    O("lru_crawler_tocrawl", subopt="lru_crawler_tocrawl",
      parse=_subopt_uint("Missing lru_crawler_tocrawl value",
                         "lru_crawler_tocrawl takes a numeric 32bit value"),
      stat="lru_crawler_tocrawl"),
    O("tail_repair_time", subopt="tail_repair_time",
      parse=_subopt_int("Missing numeric argument for tail_repair_time",
                        lambda v: None if v >= 10
                        else "Cannot set tail_repair_time to less than 10 seconds"),
      stat="tail_repair_time"),
    O("flush_enabled", ("-F", "--disable-flush-all"), parse=_const(False), takes_arg=False,
      help="disable flush_all command", stat="flush_enabled", show=_yesno),
    O("dump_enabled", ("-X", "--disable-dumping"), parse=_const(False), takes_arg=False,
      help="disable stats cachedump and lru_crawler metadump", stat="dump_enabled", show=_yesno),
    O("hash_algorithm", subopt="hash_algorithm", parse=_hash_algorithm, stat="hash_algorithm"),
    O("lru_maintainer", subopt="lru_maintainer", parse=_lru_maintainer(True),
      stat="lru_maintainer_thread", derive=lambda s, oldest: "no"),
    O("lru_maintainer", subopt="no_lru_maintainer", parse=_lru_maintainer(False)),
    O(None, stat="lru_segmented", derive=lambda s, oldest: "no"),
    O("hot_lru_pct", subopt="hot_lru_pct",
      parse=_subopt_uint("Missing hot_lru_pct argument",
                         "hot_lru_pct must be > 1 and < 80", check=lambda v: 1 <= v < 80),
      stat="hot_lru_pct"),
    O("warm_lru_pct", subopt="warm_lru_pct",
      parse=_subopt_uint("Missing warm_lru_pct argument",
                         "warm_lru_pct must be > 1 and < 80", check=lambda v: 1 <= v < 80),
      stat="warm_lru_pct"),
    O("hot_max_factor", subopt="hot_max_factor", parse=_subopt_factor("hot_max_factor"),
      stat="hot_max_factor", show=_f2),
    O("warm_max_factor", subopt="warm_max_factor", parse=_subopt_factor("warm_max_factor"),
      stat="warm_max_factor", show=_f2),
    O(None, stat="temp_lru", derive=lambda s, oldest: "no"),
    O("temporary_ttl", subopt="temporary_ttl", parse=_temporary_ttl, stat="temporary_ttl"),
    O("idle_timeout", subopt="idle_timeout",
      parse=_subopt_int("Missing numeric argument for idle_timeout"),
      help="timeout for idle connections. (default: 0, no timeout)", stat="idle_timeout"),
    O("watcher_logbuf_size", subopt="watcher_logbuf_size",
      parse=_subopt_uint("Missing watcher_logbuf_size argument",
                         "could not parse argument to watcher_logbuf_size", scale=1024),
      stat="watcher_logbuf_size"),
    O("worker_logbuf_size", subopt="worker_logbuf_size",
      parse=_subopt_uint("Missing worker_logbuf_size argument",
                         "could not parse argument to worker_logbuf_size", scale=1024),
      stat="worker_logbuf_size"),
    O("read_buf_mem_limit", subopt="read_buf_mem_limit",
      parse=_subopt_uint("Missing read_buf_mem_limit argument",
                         "could not parse argument to read_buf_mem_limit", scale=MB),
      stat="read_buf_mem_limit"),
    O("track_sizes", subopt="track_sizes", parse=_const(True), stat="track_sizes", show=_yesno),
    O(None, stat="inline_ascii_response", derive=lambda s, oldest: "no"),
    # -- TLS (tls.py); memcached 1.6.18 as Debian builds it, with TLS --
    O("ssl_enabled", ("-Z", "--enable-ssl"), parse=_const(True), takes_arg=False,
      help="enable TLS/SSL", stat="ssl_enabled", show=_yesno),
    O("ssl_chain_cert", subopt="ssl_chain_cert", parse=_subopt_str("ssl_chain_cert"),
      help="certificate chain file in PEM format", stat="ssl_chain_cert", show=_cnull),
    O("ssl_key", subopt="ssl_key", parse=_subopt_str("ssl_key"),
      help="private key, if not part of the -ssl_chain_cert", stat="ssl_key", show=_cnull),
    O("ssl_verify_mode", subopt="ssl_verify_mode", parse=_ssl_verify_mode,
      help="peer certificate verification mode, default is 0(None).\n"
           "valid values are 0(None), 1(Request), 2(Require) or 3(Once)",
      stat="ssl_verify_mode", show=lambda v: str(SSL_VERIFY_FLAGS[v])),
    O("ssl_keyformat", subopt="ssl_keyformat", parse=_subopt_strtol("ssl_keyformat"),
      help="private key format (PEM only here) (default: PEM)", stat="ssl_keyformat"),
    O("ssl_ciphers", subopt="ssl_ciphers", parse=_subopt_str("ssl_ciphers"),
      help="specify cipher list to be used", stat="ssl_ciphers", show=_null),
    O("ssl_ca_cert", subopt="ssl_ca_cert", parse=_subopt_str("ssl_ca_cert"),
      help="PEM format file of acceptable client CA's", stat="ssl_ca_cert", show=_null),
    O("ssl_wbuf_size", subopt="ssl_wbuf_size",
      parse=_subopt_uint("Missing ssl_wbuf_size argument",
                         "could not parse argument to ssl_wbuf_size", scale=1024),
      help="size in kilobytes of per-connection SSL output buffer\n"
           "(default: 16; accepted, asyncio's TLS transport buffers its own)",
      stat="ssl_wbuf_size"),
    O("ssl_session_cache", subopt="ssl_session_cache", parse=_const(True),
      help="enable server-side SSL session cache, to support session resumption",
      stat="ssl_session_cache", show=_yesno),
    O("ssl_kernel_tls", subopt="ssl_kernel_tls", parse=_const(True),
      help="enable kernel TLS offload", stat="ssl_kernel_tls", show=_yesno),
    O("ssl_min_version", subopt="ssl_min_version", parse=_ssl_min_version,
      help="minimum protocol version to accept (default: tlsv1.2)\n"
           "valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2), or 3(tlsv1.3).",
      stat="ssl_min_version", show=SSL_VERSION_NAMES.__getitem__),
    O("napi_ids", ("-N", "--napi-ids"), parse=lambda raw, st: atoi(raw), metavar="<num>",
      stat="num_napi_ids", show=lambda v: str(v) if v else "(null)"),
    O("memory_file", ("-e", "--memory-file"), parse=lambda raw, st: raw, metavar="<file>",
      help="(EXPERIMENTAL) mmap a file for item memory.\n"
           "use only in ram disks or persistent memory mounts!\n"
           "enables restartable cache (stop with SIGUSR1)",
      stat="memory_file", show=_cnull),
    # -- rows without a stats line --
    O("no_modern", subopt="no_modern", parse=_no_modern,
      help="uses defaults of previous major version (1.4.x)"),
    O(None, subopt="no_chunked_items", parse=_no_chunked_items),
    O("loop", subopt="loop", parse=_loop,
      help="event loop: auto, uvloop or asyncio (default: auto)"),
    O("watch_enabled", ("-W", "--disable-watch"), parse=_const(False), takes_arg=False,
      help="disable watch commands (live logging)"),
    O("daemonize", ("-d", "--daemon"), parse=_const(True), takes_arg=False, help="run as a daemon"),
    O("pidfile", ("-P", "--pidfile"), parse=lambda raw, st: raw, metavar="<file>",
      help="save PID in <file>"),
    O("user", ("-u", "--user"), parse=lambda raw, st: raw, metavar="<user>",
      help="assume identity of <username> (accepted and ignored)"),
    O("lock_memory", ("-k", "--lock-memory"), parse=_const(True), takes_arg=False,
      help="lock down all paged memory (accepted and ignored)"),
    O("large_pages", ("-L", "--enable-largepages"), parse=_const(True), takes_arg=False,
      help="try to use large memory pages (accepted and ignored)"),
    O("core_dumps", ("-r", "--enable-coredumps"), parse=_const(True), takes_arg=False,
      help="maximize core file limit (accepted and ignored)"),
    O(None, ("-o", "--extended"), parse=_suboptions, metavar="<opts>",
      help="comma separated list of extended options"),
    O(None, ("-h", "--help"), parse=_help, takes_arg=False, help="print this help and exit"),
    O(None, ("-i", "--license"), parse=_license, takes_arg=False, help="print license and exit"),
    O(None, ("-V", "--version"), parse=_version, takes_arg=False, help="print version and exit"),
    *(O(None, subopt=name) for name in _IGNORED_SUBOPTS),
)
del O

_SUBOPTS: dict[str, Option] = {row.subopt: row for row in OPTIONS if row.subopt}


# ---- building Settings ----------------------------------------------------------------------

class _Apply(argparse.Action):
    """Applies one table row as its flag is met, so checks run in argv order like getopt's loop."""

    def __init__(self, option_strings, dest, row: Option, **kwargs):
        super().__init__(option_strings, dest, nargs=None if row.takes_arg else 0,
                         default=argparse.SUPPRESS, **kwargs)
        self.row = row

    def __call__(self, parser, namespace, values, option_string=None):
        _apply(self.row, values if self.row.takes_arg else None, namespace.state)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        m = re.fullmatch(r"ambiguous option: (\S+) could match (.*)", message)
        if m:                                   # glibc getopt_long's wording
            options = " ".join(f"'{o}'" for o in m.group(2).split(", "))
            message = f"option '{m.group(1)}' is ambiguous; possibilities: {options}"
        _fail(f'memcached: {message}\nIllegal argument "?"')


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser generated from OPTIONS (help is ours: see usage())."""
    parser = _Parser(prog="memcached", add_help=False)
    for row in OPTIONS:
        if row.flags:
            parser.add_argument(*row.flags, action=_Apply, row=row)
    return parser


def parse_settings(argv: list[str], *, warn: Callable[[str], None] | None = None) -> Settings:
    """Command-line arguments -> Settings, with memcached's checks.

    Raises SettingsError (message + exit status) or InfoRequest (-h, -V, -i).
    """
    st = _ParseState(values={f.name: f.default for f in dataclasses.fields(Settings)},
                     warn=warn or (lambda message: print(message, file=sys.stderr)))
    _, extras = build_parser().parse_known_args(argv, argparse.Namespace(state=st))
    for arg in extras:  # like getopt, non-option words are ignored; unknown options are not
        if arg.startswith("--"):
            _fail(f"memcached: unrecognized option '{arg}'\nIllegal argument \"?\"")
        if arg.startswith("-") and len(arg) > 1:
            _fail(f"memcached: invalid option -- '{arg[1]}'\nIllegal argument \"?\"")
    _check(st)
    st.values["lru_maintainer"] = st.lru_maintainer
    return Settings(**st.values)


def _check(st: _ParseState) -> None:
    """The checks memcached 1.6.18 makes after its getopt loop, in its order."""
    v = st.values
    item, chunk = v["item_size_max"], v["slab_chunk_max"]
    if item < ITEM_SIZE_MAX_LOWER_LIMIT:
        _fail("Item max size cannot be less than 1024 bytes.", EX_USAGE)
    if item > v["memory_limit"] // 2:
        _fail("Cannot set item size limit higher than 1/2 of memory max.", EX_USAGE)
    if item > ITEM_SIZE_MAX_UPPER_LIMIT:
        _fail("Cannot set item size limit higher than a gigabyte.", EX_USAGE)
    if item > MB and not st.slab_chunk_max_changed:
        chunk = v["slab_chunk_max"] = PAGE_SIZE // 2
    if chunk > item:
        _fail(f"slab_chunk_max (bytes: {chunk}) cannot be larger than -I (item_size_max {item})",
              EX_USAGE)
    if chunk <= 0 or item % chunk:
        _fail(f"-I (item_size_max: {item}) must be evenly divisible by slab_chunk_max "
              f"(bytes: {chunk})", EX_USAGE)
    if PAGE_SIZE % chunk:
        _fail(f"slab_chunk_max (bytes: {chunk}) must divide evenly into {PAGE_SIZE} "
              "(slab_page_size)", EX_USAGE)
    if v["hot_lru_pct"] + v["warm_lru_pct"] > 80:
        _fail("hot_lru_pct + warm_lru_pct cannot be more than 80% combined", EX_USAGE)
    if st.temp_lru and not st.lru_maintainer:
        _fail("temporary_ttl requires lru_maintainer to be enabled", EX_USAGE)
    if v["auth_file"]:
        if not st.protocol_given:
            v["binding_protocol"] = "ascii"
        elif v["binding_protocol"] != "ascii":
            _fail("ERROR: You cannot allow the BINARY protocol while using ascii "
                  "authentication tokens.", EX_USAGE)
    if not -1 <= v["port"] <= 65535:   # memcached lets -p -5 through to a bind failure (71)
        _fail(f"ERROR: Invalid port number {v['port']}.", EX_USAGE)
    if v["ssl_enabled"] and v["port"] == 0:
        _fail("ERROR: You cannot enable SSL without a TCP port.", EX_USAGE)


# ---- output generated from the table ---------------------------------------------------------

def settings_stats(settings: Settings, *, oldest: int = 0, verbosity: int | None = None,
                   maxbytes: int | None = None, **live: Any) -> list[tuple[str, str]]:
    """`stats settings` as (name, value) pairs, in memcached 1.6.18's order and spelling.

    `verbosity` and `maxbytes` override the start-up values after the `verbosity` and
    `cache_memlimit` commands, `live` other fields changed at run time (`slabs automove`);
    `oldest` is flush_all's oldest_live (relative seconds).
    """
    if verbosity is not None or maxbytes is not None or live:
        settings = dataclasses.replace(
            settings,
            verbosity=settings.verbosity if verbosity is None else verbosity,
            memory_limit=settings.memory_limit if maxbytes is None else maxbytes, **live)
    lines = []
    for row in OPTIONS:
        if row.stat:
            value = row.derive(settings, oldest) if row.derive else getattr(settings, row.field)
            lines.append((row.stat, row.show(value)))
    return lines


def usage() -> str:
    """The -h text: memcached's layout, listing the flags and -o options this daemon takes."""
    out = ["memcache_py 0.1.0, compatible with " + VERSION_LINE]
    for row in OPTIONS:
        if row.flags and row.help:
            left = ", ".join(row.flags)
            if row.metavar:
                left += ("=" if len(row.flags) > 1 else " ") + row.metavar
            first, *rest = row.help.split("\n")
            out.append(f"{left:<25} {first}" if len(left) < 26 else f"{left} {first}")
            out.extend(" " * 26 + line for line in rest)
    out.append("most -o options have a 'no_' prefix to disable")
    for row in OPTIONS:
        if row.subopt and row.help:
            out.append(f"   - {row.subopt + ':':<20} {row.help}")
    return "\n".join(out)
