"""Settings: flags, -o suboptions, memcached 1.6.18's checks and messages, `stats settings`.

Expected messages and statuses were copied from the real /usr/bin/memcached 1.6.18.
"""

import dataclasses

import pytest

from memcache_py.settings import (
    OPTIONS, InfoRequest, Settings, SettingsError, atof, atoi, parse_settings, safe_strtoul,
    settings_stats, usage,
)

pytestmark = pytest.mark.unit

MB = 1024 * 1024


def parse(*args: str) -> Settings:
    return parse_settings(list(args))


def error(*args: str) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        parse_settings(list(args))
    return info.value


# ---- defaults and every flag ---------------------------------------------------------------

def test_defaults():
    s = parse()
    assert s == Settings()
    assert (s.port, s.udp_port, s.listen, s.unix_socket, s.unix_mask) == (
        11211, 0, ("127.0.0.1",), None, 0o700)
    assert (s.memory_limit, s.max_connections, s.growth_factor, s.chunk_size) == (
        64 * MB, 1024, 1.25, 48)
    assert (s.item_size_max, s.slab_chunk_max, s.threads, s.reqs_per_event) == (
        MB, 524288, 4, 20)
    assert (s.evictions, s.cas_enabled, s.shutdown_enabled, s.flush_enabled) == (
        True, True, False, True)
    assert (s.verbosity, s.binding_protocol, s.tcp_backlog, s.stat_key_prefix) == (
        0, "auto", 1024, ":")
    assert (s.idle_timeout, s.maxconns_fast, s.no_modern, s.loop) == (0, True, False, "auto")
    assert (s.daemonize, s.pidfile, s.user, s.detail_enabled) == (False, None, None, False)


@pytest.mark.parametrize("args, field, value", [
    (["-p", "22122"], "port", 22122),
    (["--port=0"], "port", 0),
    (["-p", "-1"], "port", -1),
    (["-p", "abc"], "port", 0),                 # atoi: memcached then disables TCP
    (["-U", "11211"], "udp_port", 11211),
    (["--udp-port", "0"], "udp_port", 0),
    (["-s", "/tmp/mc.sock"], "unix_socket", "/tmp/mc.sock"),
    (["--unix-socket=/x"], "unix_socket", "/x"),
    (["-a", "755"], "unix_mask", 0o755),
    (["--unix-mask", "0666"], "unix_mask", 0o666),
    (["-a", "8"], "unix_mask", 0),              # strtol(.., 8) stops at the first non-octal digit
    (["-m", "100"], "memory_limit", 100 * MB),
    (["--memory-limit=2048"], "memory_limit", 2048 * MB),
    (["-c", "30"], "max_connections", 30),
    (["--conn-limit", "5"], "max_connections", 5),
    (["-f", "2"], "growth_factor", 2.0),
    (["--slab-growth-factor=1.5"], "growth_factor", 1.5),
    (["-n", "100"], "chunk_size", 100),
    (["--slab-min-size", "32"], "chunk_size", 32),
    (["-I", "2m"], "item_size_max", 2 * MB),
    (["-I", "2M"], "item_size_max", 2 * MB),
    (["-I", "1.5m"], "item_size_max", MB),      # atoi("1.5") = 1
    (["-m", "4096", "-I", "1024m"], "item_size_max", 1024 * MB),
    (["-I", "524288"], "item_size_max", 524288),
    (["--max-item-size=512k"], "item_size_max", 512 * 1024),
    (["-M"], "evictions", False),
    (["--disable-evictions"], "evictions", False),
    (["-C"], "cas_enabled", False),
    (["--disable-cas"], "cas_enabled", False),
    (["-v"], "verbosity", 1),
    (["-vv"], "verbosity", 2),
    (["-vvv"], "verbosity", 3),
    (["-v", "--verbose"], "verbosity", 2),
    (["-t", "1"], "threads", 1),
    (["--threads=8"], "threads", 8),
    (["-R", "5"], "reqs_per_event", 5),
    (["--max-reqs-per-event", "1"], "reqs_per_event", 1),
    (["-A"], "shutdown_enabled", True),
    (["--enable-shutdown"], "shutdown_enabled", True),
    (["-F"], "flush_enabled", False),
    (["--disable-flush-all"], "flush_enabled", False),
    (["-X"], "dump_enabled", False),
    (["--disable-dumping"], "dump_enabled", False),
    (["-W"], "watch_enabled", False),
    (["--disable-watch"], "watch_enabled", False),
    (["-b", "50"], "tcp_backlog", 50),
    (["--listen-backlog=-1"], "tcp_backlog", -1),
    (["-B", "ascii"], "binding_protocol", "ascii"),
    (["--protocol=binary"], "binding_protocol", "binary"),
    (["-B", "auto"], "binding_protocol", "auto"),
    (["-d"], "daemonize", True),
    (["--daemon"], "daemonize", True),
    (["-P", "/tmp/m.pid"], "pidfile", "/tmp/m.pid"),
    (["--pidfile", "p"], "pidfile", "p"),
    (["-u", "root"], "user", "root"),
    (["--user=nobody"], "user", "nobody"),
    (["-D", "#"], "stat_key_prefix", "#"),
    (["-k"], "lock_memory", True),
    (["--lock-memory"], "lock_memory", True),
    (["-L"], "large_pages", True),
    (["--enable-largepages"], "large_pages", True),
    (["-r"], "core_dumps", True),
    (["--enable-coredumps"], "core_dumps", True),
    (["-S"], "sasl", True),
    (["--enable-sasl"], "sasl", True),
    (["-N", "2"], "napi_ids", 2),
    (["--napi-ids=3"], "napi_ids", 3),
    (["--memory-l=32"], "memory_limit", 32 * MB),    # unambiguous prefixes, like getopt_long
])
def test_flag(args, field, value):
    assert getattr(parse(*args), field) == value


def test_minus_d_turns_detail_on():
    s = parse("-D", ":")
    assert (s.stat_key_prefix, s.detail_enabled) == (":", True)


@pytest.mark.parametrize("args, listen", [
    (["-l", "0.0.0.0"], ("0.0.0.0",)),
    (["-l", "127.0.0.1,::1"], ("127.0.0.1", "::1")),
    (["-l", "a", "-l", "b:11212", "--listen=[::1]:5"], ("a", "b:11212", "[::1]:5")),
    (["-l", "a,,b,"], ("a", "b")),
])
def test_listen_replaces_default_then_accumulates(args, listen):
    assert parse(*args).listen == listen


def test_later_flag_wins_and_words_are_ignored():
    assert parse("-p", "1", "extra", "-p", "2").port == 2


def test_settings_is_frozen_and_slotted():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1
    assert not hasattr(s, "__dict__")


# ---- -o suboptions -------------------------------------------------------------------------

@pytest.mark.parametrize("opts, field, value", [
    ("idle_timeout=7", "idle_timeout", 7),
    ("idle_timeout=abc", "idle_timeout", 0),
    ("idle_timeout=", "idle_timeout", 0),
    ("slab_chunk_max=16384", "slab_chunk_max", 16384),
    ("maxconns_fast", "maxconns_fast", True),
    ("no_maxconns_fast", "maxconns_fast", False),
    ("hashpower=20", "hashpower", 20),
    ("slab_automove_ratio=0.5", "slab_automove_ratio", 0.5),
    ("slab_automove_window=5", "slab_automove_window", 5),
    ("lru_crawler", "lru_crawler", True),
    ("lru_crawler,no_lru_crawler", "lru_crawler", False),
    ("no_lru_crawler", "lru_crawler", False),
    ("no_modern", "lru_crawler", False),
    ("no_modern,lru_crawler", "lru_crawler", True),
    ("no_lru_maintainer", "lru_maintainer", False),
    ("no_modern", "lru_maintainer", False),
    ("no_lru_maintainer,lru_maintainer", "lru_maintainer", True),
    ("lru_crawler_sleep=50", "lru_crawler_sleep", 50),
    ("lru_crawler_tocrawl=9", "lru_crawler_tocrawl", 9),
    ("tail_repair_time=20", "tail_repair_time", 20),
    ("hash_algorithm=xxh3", "hash_algorithm", "xxh3"),
    ("hot_lru_pct=10", "hot_lru_pct", 10),
    ("warm_lru_pct=30", "warm_lru_pct", 30),
    ("hot_max_factor=0.5", "hot_max_factor", 0.5),
    ("warm_max_factor=3", "warm_max_factor", 3.0),
    ("temporary_ttl=30", "temporary_ttl", 30),
    ("watcher_logbuf_size=10", "watcher_logbuf_size", 10240),
    ("worker_logbuf_size=20", "worker_logbuf_size", 20480),
    ("read_buf_mem_limit=5", "read_buf_mem_limit", 5 * MB),
    ("track_sizes", "track_sizes", True),
    ("loop=asyncio", "loop", "asyncio"),
    ("loop=uvloop", "loop", "uvloop"),
    ("no_chunked_items", "slab_chunk_max", MB),
])
def test_suboption(opts, field, value):
    assert getattr(parse("-o", opts), field) == value


def test_suboptions_comma_separated_and_repeated():
    s = parse("-o", "idle_timeout=3,track_sizes,", "--extended=hashpower=16", "-o", "loop=asyncio")
    assert (s.idle_timeout, s.track_sizes, s.hashpower, s.loop) == (3, True, 16, "asyncio")


def test_accepted_and_ignored_suboptions():
    names = ("modern,no_hashexpand,no_slab_reassign,slab_reassign,slab_automove,"
             "slab_automove=2,no_slab_automove,slab_automove,no_lru_maintainer,lru_maintainer,"
             "drop_privileges,no_drop_privileges,relaxed_privileges,slab_sizes=100-200,"
             "ext_path=/tmp/x:1G")
    assert parse("-o", names) == Settings()


def test_no_modern():
    s = parse("-o", "no_modern")
    assert (s.no_modern, s.slab_chunk_max, s.maxconns_fast, s.hash_algorithm) == (
        True, MB, False, "jenkins")


@pytest.mark.parametrize("args, chunk_max", [
    (["-o", "no_modern,slab_chunk_max=65536"], 65536),
    (["-o", "slab_chunk_max=65536,no_modern"], 65536),   # an explicit value survives no_modern
    (["-o", "no_modern", "-I", "2m"], 524288),           # -I > 1m resets an implicit chunk max
    (["-o", "no_chunked_items", "-I", "2m"], 524288),
    (["-o", "slab_chunk_max=1048576", "-I", "2m"], MB),
    (["-I", "2m"], 524288),
])
def test_slab_chunk_max_interplay(args, chunk_max):
    assert parse(*args).slab_chunk_max == chunk_max


def test_no_modern_order_matters_like_getsubopt():
    assert parse("-o", "hash_algorithm=xxh3,no_modern").hash_algorithm == "jenkins"
    assert parse("-o", "no_modern,hash_algorithm=xxh3").hash_algorithm == "xxh3"
    assert parse("-o", "no_modern,maxconns_fast").maxconns_fast is True


# ---- checks, in memcached's words ----------------------------------------------------------

@pytest.mark.parametrize("args, status, message", [
    (["-m", "1"], 64, "Cannot set item size limit higher than 1/2 of memory max."),
    (["-m", "0"], 64, "Cannot set item size limit higher than 1/2 of memory max."),
    (["-m", "abc"], 64, "Cannot set item size limit higher than 1/2 of memory max."),
    (["-m", "-5"], 64, "Cannot set item size limit higher than 1/2 of memory max."),
    (["-I", "40m"], 64, "Cannot set item size limit higher than 1/2 of memory max."),
    (["-I", "1000"], 64, "Item max size cannot be less than 1024 bytes."),
    (["-I", "abc"], 64, "Item max size cannot be less than 1024 bytes."),
    (["-I", "1g", "-m", "4096"], 64, "Item max size cannot be less than 1024 bytes."),
    (["-I", "2048m", "-m", "8192"], 64, "Item max size cannot be less than 1024 bytes."),
    (["-I", "1025m", "-m", "4096"], 64, "Cannot set item size limit higher than a gigabyte."),
    (["-I", "1k"], 64,
     "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)"),
    (["-I", "1025"], 64,
     "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1025)"),
    (["-I", "512k", "-o", "no_modern"], 64,
     "slab_chunk_max (bytes: 1048576) cannot be larger than -I (item_size_max 524288)"),
    (["-I", "1100k"], 64,
     "-I (item_size_max: 1126400) must be evenly divisible by slab_chunk_max (bytes: 524288)"),
    (["-o", "slab_chunk_max=1000"], 64,
     "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 1000)"),
    (["-o", "slab_chunk_max=-5"], 64,
     "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: -5)"),
    (["-o", "slab_chunk_max=0"], 64,
     "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 0)"),
    (["-o", "slab_chunk_max=3000", "-I", "3000"], 64,
     "slab_chunk_max (bytes: 3000) must divide evenly into 1048576 (slab_page_size)"),
    (["-o", "slab_chunk_max=2000000"], 64,
     "slab_chunk_max (bytes: 2000000) cannot be larger than -I (item_size_max 1048576)"),
    (["-B", "http"], 64, "Invalid value for binding protocol: http\n"
                         " -- should be one of auto, binary, or ascii"),
    (["-c", "0"], 1, "Maximum connections must be greater than 0"),
    (["-c", "-1"], 1, "Maximum connections must be greater than 0"),
    (["-c", "abc"], 1, "Maximum connections must be greater than 0"),
    (["-t", "0"], 1, "Number of threads must be greater than 0"),
    (["-t", "-1"], 1, "Number of threads must be greater than 0"),
    (["-f", "1"], 1, "Factor must be greater than 1"),
    (["-f", "abc"], 1, "Factor must be greater than 1"),
    (["-n", "0"], 1, "Chunk size must be greater than 0"),
    (["-R", "0"], 1, "Number of requests per event must be greater than 0"),
    (["-p", "65536"], 64, "ERROR: Invalid port number 65536."),
    (["-p", "70000"], 64, "ERROR: Invalid port number 70000."),
    (["-o", "foo"], 1, 'Illegal suboption "foo"'),
    (["-o", "foo=bar"], 1, 'Illegal suboption "foo=bar"'),
    (["-o", "idle_timeout=5,foo=1"], 1, 'Illegal suboption "foo=1"'),
    (["-o", "idle_timeout=1,,track_sizes"], 1, 'Illegal suboption ""'),
    (["-o", ","], 1, 'Illegal suboption ""'),
    (["-o", "=5"], 1, 'Illegal suboption "=5"'),
    (["-o", "temp_lru"], 1, 'Illegal suboption "temp_lru"'),
    (["-o", "idle_timeout"], 1, "Missing numeric argument for idle_timeout"),
    (["-o", "hashpower"], 1, "Missing numeric argument for hashpower"),
    (["-o", "hashpower=5"], 1, "Initial hashtable multiplier of 5 is too low"),
    (["-o", "hashpower=abc"], 1, "Initial hashtable multiplier of 0 is too low"),
    (["-o", "hashpower=33"], 1, 'Initial hashtable multiplier of 33 is too high\n'
                                'Choose a value based on "STAT hash_power_level" from a running '
                                'instance'),
    (["-o", "slab_chunk_max"], 1, "Missing slab_chunk_max argument"),
    (["-o", "slab_automove=3"], 1, "slab_automove must be between 0 and 2"),
    (["-o", "slab_automove=-1"], 1, "slab_automove must be between 0 and 2"),
    (["-o", "slab_automove_ratio"], 1, "Missing slab_automove_ratio argument"),
    (["-o", "slab_automove_ratio=0"], 1, "slab_automove_ratio must be > 0 and < 1"),
    (["-o", "slab_automove_ratio=1.01"], 1, "slab_automove_ratio must be > 0 and < 1"),
    (["-o", "slab_automove_window"], 1, "Missing slab_automove_window argument"),
    (["-o", "slab_automove_window=2"], 1, "slab_automove_window must be > 2"),
    (["-o", "hot_lru_pct"], 1, "Missing hot_lru_pct argument"),
    (["-o", "hot_lru_pct=0"], 1, "hot_lru_pct must be > 1 and < 80"),
    (["-o", "hot_lru_pct=80"], 1, "hot_lru_pct must be > 1 and < 80"),
    (["-o", "hot_lru_pct=abc"], 1, "hot_lru_pct must be > 1 and < 80"),
    (["-o", "warm_lru_pct=90"], 1, "warm_lru_pct must be > 1 and < 80"),
    (["-o", "hot_max_factor"], 1, "Missing hot_max_factor argument"),
    (["-o", "hot_max_factor=0"], 1, "hot_max_factor must be > 0"),
    (["-o", "warm_max_factor=abc"], 1, "warm_max_factor must be > 0"),
    (["-o", "tail_repair_time"], 1, "Missing numeric argument for tail_repair_time"),
    (["-o", "tail_repair_time=5"], 1, "Cannot set tail_repair_time to less than 10 seconds"),
    (["-o", "temporary_ttl"], 1, "Missing temporary_ttl argument"),
    (["-o", "hash_algorithm"], 1, "Missing hash_algorithm argument"),
    (["-o", "hash_algorithm=foo"], 1, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)"),
    (["-o", "lru_crawler_sleep"], 1, "Missing lru_crawler_sleep value"),
    (["-o", "lru_crawler_sleep=2000000"], 1, "LRU crawler sleep must be between 0 and 1 second"),
    (["-o", "lru_crawler_sleep=-1"], 1, "LRU crawler sleep must be between 0 and 1 second"),
    (["-o", "lru_crawler_tocrawl"], 1, "Missing lru_crawler_tocrawl value"),
    (["-o", "lru_crawler_tocrawl=-1"], 1, "lru_crawler_tocrawl takes a numeric 32bit value"),
    (["-o", "watcher_logbuf_size"], 1, "Missing watcher_logbuf_size argument"),
    (["-o", "watcher_logbuf_size=abc"], 1, "could not parse argument to watcher_logbuf_size"),
    (["-o", "worker_logbuf_size"], 1, "Missing worker_logbuf_size argument"),
    (["-o", "worker_logbuf_size=abc"], 1, "could not parse argument to worker_logbuf_size"),
    (["-o", "read_buf_mem_limit"], 1, "Missing read_buf_mem_limit argument"),
    (["-o", "read_buf_mem_limit=abc"], 1, "could not parse argument to read_buf_mem_limit"),
    (["-o", "hot_lru_pct=50,warm_lru_pct=40"], 64,
     "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"),
    (["-o", "no_modern,temporary_ttl=30"], 64,
     "temporary_ttl requires lru_maintainer to be enabled"),
    (["-o", "temporary_ttl=30,no_lru_maintainer"], 64,
     "temporary_ttl requires lru_maintainer to be enabled"),
    (["-o", "loop=trio"], 1, "Unknown loop option (auto, uvloop, asyncio)"),
    (["-o", "loop"], 1, "Missing loop argument"),
])
def test_check_message_and_status(args, status, message):
    err = error(*args)
    assert (err.status, err.message) == (status, message)


@pytest.mark.parametrize("args, message", [
    # checks inside the getopt loop fire in argv order ...
    (["-c", "0", "-B", "x"], "Maximum connections must be greater than 0"),
    (["-B", "x", "-c", "0"], "Invalid value for binding protocol: x\n"
                             " -- should be one of auto, binary, or ascii"),
    (["-o", "foo", "-c", "0"], 'Illegal suboption "foo"'),
    # ... and before every check made after the loop
    (["-m", "1", "-c", "0"], "Maximum connections must be greater than 0"),
    (["-o", "hashpower=5", "-m", "1"], "Initial hashtable multiplier of 5 is too low"),
    # the post-loop checks in memcached's order
    (["-p", "70000", "-m", "1"], "Cannot set item size limit higher than 1/2 of memory max."),
    (["-o", "hot_lru_pct=50,warm_lru_pct=40", "-I", "1000"],
     "Item max size cannot be less than 1024 bytes."),
    (["-p", "70000", "-o", "hot_lru_pct=50,warm_lru_pct=40"],
     "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"),
    (["-o", "no_modern,temporary_ttl=30,hot_lru_pct=50,warm_lru_pct=40"],
     "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"),
    (["-p", "70000", "-o", "no_modern,temporary_ttl=30"],
     "temporary_ttl requires lru_maintainer to be enabled"),
])
def test_check_order(args, message):
    assert error(*args).message == message


@pytest.mark.parametrize("args", [
    ["-o", "hot_lru_pct=1"], ["-o", "hot_lru_pct=79,warm_lru_pct=1"],
    ["-o", "slab_automove_ratio=1"], ["-o", "slab_automove_window=3"],
    ["-o", "tail_repair_time=10"], ["-o", "no_modern,lru_maintainer,temporary_ttl=30"],
    ["-p", "65535"], ["-I", "1024", "-o", "slab_chunk_max=1024"],
    ["-m", "1", "-I", "512k"], ["-U", "70000"],
])
def test_edges_memcached_accepts(args):
    parse(*args)


def test_many_threads_warns_but_starts():
    warnings = []
    s = parse_settings(["-t", "65"], warn=warnings.append)
    assert s.threads == 65
    assert warnings == ["WARNING: Setting a high number of workerthreads is not recommended.\n"
                        " Set this value to the number of cores in your machine or less."]


@pytest.mark.parametrize("args, message", [
    (["-Q"], "memcached: invalid option -- 'Q'\nIllegal argument \"?\""),
    (["--fooble"], "memcached: unrecognized option '--fooble'\nIllegal argument \"?\""),
])
def test_unknown_flag(args, message):
    err = error(*args)
    assert (err.status, err.message) == (1, message)


@pytest.mark.parametrize("args", [["-P"], ["-p"], ["--disable"], ["-vQ"]])
def test_bad_flag_use_is_status_1(args):
    err = error(*args)
    assert err.status == 1 and err.message.endswith('Illegal argument "?"')


@pytest.mark.parametrize("flag, text", [
    ("-V", "memcached 1.6.18"), ("--version", "memcached 1.6.18"),
])
def test_version(flag, text):
    with pytest.raises(InfoRequest) as info:
        parse(flag)
    assert info.value.text == text


def test_help_lists_the_flags_and_hides_sasl():
    with pytest.raises(InfoRequest) as info:
        parse("-h")
    text = info.value.text
    for line in ("-p, --port=<num>          TCP port to listen on",
                 "-m, --memory-limit=<num>  item memory in megabytes (default: 64)",
                 "-o, --extended=<opts>     comma separated list of extended options",
                 "   - idle_timeout:        timeout for idle connections.",
                 "-D <char>                 delimiter between key prefixes"):
        assert line in text
    assert "sasl" not in text.lower()   # memcached's test harness greps -h for sasl support
    assert text == usage()


# ---- C number parsing ------------------------------------------------------------------------

def test_c_number_parsing():
    assert [atoi(x) for x in ("12", " 12x", "-3", "x", "", "99999999999")] == [
        12, 12, -3, 0, 0, 1215752191]
    assert [atof(x) for x in ("1.5", "2abc", ".5", "x")] == [1.5, 2.0, 0.5, 0.0]
    assert [safe_strtoul(x) for x in ("5", "5 ", "-1", "abc", "", "1x", "-0")] == [
        5, 5, None, None, None, None, 0]


# ---- stats settings --------------------------------------------------------------------------

DEFAULT_STATS = [
    ("maxbytes", "67108864"), ("maxconns", "1024"), ("tcpport", "11211"), ("udpport", "0"),
    ("inter", "127.0.0.1"), ("verbosity", "0"), ("oldest", "0"), ("evictions", "on"),
    ("domain_socket", "NULL"), ("umask", "700"), ("shutdown_command", "no"),
    ("growth_factor", "1.25"), ("chunk_size", "48"), ("num_threads", "4"),
    ("num_threads_per_udp", "4"), ("stat_key_prefix", ":"), ("detail_enabled", "no"),
    ("reqs_per_event", "20"), ("cas_enabled", "yes"), ("tcp_backlog", "1024"),
    ("binding_protocol", "auto-negotiate"), ("auth_enabled_sasl", "no"),
    ("auth_enabled_ascii", "no"), ("item_size_max", "1048576"), ("maxconns_fast", "yes"),
    ("hashpower_init", "0"), ("slab_reassign", "yes"), ("slab_automove", "1"),
    ("slab_automove_ratio", "0.80"), ("slab_automove_window", "30"),
    ("slab_chunk_max", "524288"), ("lru_crawler", "yes"), ("lru_crawler_sleep", "100"),
    ("lru_crawler_tocrawl", "0"), ("tail_repair_time", "0"), ("flush_enabled", "yes"),
    ("dump_enabled", "yes"), ("hash_algorithm", "murmur3"), ("lru_maintainer_thread", "no"),
    ("lru_segmented", "no"), ("hot_lru_pct", "20"), ("warm_lru_pct", "40"),
    ("hot_max_factor", "0.20"), ("warm_max_factor", "2.00"), ("temp_lru", "no"),
    ("temporary_ttl", "61"), ("idle_timeout", "0"), ("watcher_logbuf_size", "262144"),
    ("worker_logbuf_size", "65536"), ("read_buf_mem_limit", "0"), ("track_sizes", "no"),
    ("inline_ascii_response", "no"),
    ("ssl_enabled", "no"), ("ssl_chain_cert", "(null)"), ("ssl_key", "(null)"),
    ("ssl_verify_mode", "0"), ("ssl_keyformat", "1"), ("ssl_ciphers", "NULL"),
    ("ssl_ca_cert", "NULL"), ("ssl_wbuf_size", "16384"), ("ssl_session_cache", "no"),
    ("ssl_kernel_tls", "no"), ("ssl_min_version", "tlsv1.2"),
    ("num_napi_ids", "(null)"), ("memory_file", "(null)"),
]


def test_stats_settings_defaults_in_memcached_order():
    assert settings_stats(Settings()) == DEFAULT_STATS


def test_stats_settings_reflect_flags():
    s = parse("-vv", "-D", "#", "-B", "ascii", "-a", "777", "-M", "-C", "-A", "-F", "-X",
              "-b", "50", "-R", "7", "-t", "2", "-c", "99", "-f", "1.5", "-n", "40", "-m", "100",
              "-I", "2m", "-s", "/tmp/mc.sock", "-l", "a", "-l", "b", "-p", "0", "-S", "-o",
              "no_modern,lru_maintainer,idle_timeout=7,track_sizes,hashpower=20,"
              "temporary_ttl=30,tail_repair_time=20,"
              "watcher_logbuf_size=10,read_buf_mem_limit=5,hot_lru_pct=10,warm_lru_pct=30,"
              "hot_max_factor=0.5,warm_max_factor=3,lru_crawler_sleep=50,lru_crawler_tocrawl=9,"
              "slab_automove_ratio=0.5,slab_automove_window=5")
    got = dict(settings_stats(s))
    changed = {k: v for k, v in got.items() if (k, v) not in DEFAULT_STATS}
    assert changed == {
        "maxbytes": "104857600", "maxconns": "99", "tcpport": "0", "inter": "a,b",
        "verbosity": "2", "evictions": "off", "domain_socket": "/tmp/mc.sock", "umask": "777",
        "shutdown_command": "yes", "growth_factor": "1.50", "chunk_size": "40",
        "num_threads": "2", "num_threads_per_udp": "2", "stat_key_prefix": "#",
        "detail_enabled": "yes", "reqs_per_event": "7", "cas_enabled": "no",
        "tcp_backlog": "50", "binding_protocol": "ascii", "auth_enabled_sasl": "yes",
        "item_size_max": "2097152", "maxconns_fast": "no", "hashpower_init": "20",
        "slab_reassign": "no", "slab_automove": "0", "lru_crawler": "no",
        "slab_automove_ratio": "0.50", "slab_automove_window": "5",
        "lru_crawler_sleep": "50", "lru_crawler_tocrawl": "9", "tail_repair_time": "20",
        "flush_enabled": "no", "dump_enabled": "no", "hash_algorithm": "jenkins",
        "hot_lru_pct": "10", "warm_lru_pct": "30", "hot_max_factor": "0.50",
        "warm_max_factor": "3.00", "temporary_ttl": "30", "idle_timeout": "7",
        "watcher_logbuf_size": "10240", "read_buf_mem_limit": "5242880", "track_sizes": "yes",
    }
    assert all(" " not in v and v for v in got.values())


def test_stats_settings_runtime_values():
    got = dict(settings_stats(Settings(), oldest=42, verbosity=1, maxbytes=3 * MB))
    assert (got["oldest"], got["verbosity"], got["maxbytes"]) == ("42", "1", str(3 * MB))
    assert dict(settings_stats(Settings(verbosity=2)))["verbosity"] == "2"


def test_stats_settings_protocol_and_napi_spelling():
    assert dict(settings_stats(parse("-B", "binary")))["binding_protocol"] == "binary"
    assert dict(settings_stats(parse("-N", "2")))["num_napi_ids"] == "2"


# ---- the table itself ------------------------------------------------------------------------

def test_every_settings_field_is_set_or_shown_by_a_row():
    table_fields = {row.field for row in OPTIONS if row.field}
    assert table_fields == {f.name for f in dataclasses.fields(Settings)}


def test_flags_and_suboptions_are_declared_once():
    flags = [flag for row in OPTIONS for flag in row.flags]
    subopts = [row.subopt for row in OPTIONS if row.subopt]
    stats = [row.stat for row in OPTIONS if row.stat]
    assert len(flags) == len(set(flags))
    assert len(subopts) == len(set(subopts))
    assert len(stats) == len(set(stats)) == 65


def test_slab_reassign_and_automove_options_in_order():
    assert (Settings().slab_reassign, Settings().slab_automove) == (True, 1)     # memcached's
    s = parse_settings(["-o", "slab_reassign,slab_automove"])
    assert (s.slab_reassign, s.slab_automove) == (True, 1)
    s = parse_settings(["-o", "slab_reassign,slab_automove=2,no_modern"])
    assert (s.slab_reassign, s.slab_automove) == (False, 0)                # no_modern after
    s = parse_settings(["-o", "no_modern", "-o", "slab_reassign,slab_automove=1"])
    assert (s.slab_reassign, s.slab_automove) == (True, 1)
    s = parse_settings(["-o", "slab_reassign,no_slab_reassign,slab_automove,no_slab_automove"])
    assert (s.slab_reassign, s.slab_automove) == (False, 0)
    assert error("-o", "slab_automove=3").message == "slab_automove must be between 0 and 2"
    assert dict(settings_stats(parse_settings(["-o", "slab_reassign,slab_automove"])))[
        "slab_reassign"] == "yes"
