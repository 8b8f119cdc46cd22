"""bench.throughput: memaslap's config and output, and the median-of-rounds ratios."""

import pytest

from bench.throughput.compare import WORKLOADS, Measurement, format_table, summarize
from bench.throughput.memaslap import MemaslapLoad, command, parse_output

pytestmark = pytest.mark.unit

# The tail of a real `memcaslap -s 127.0.0.1:P -F cfg -t 4s -T 1 -c 128` run (memcached 1.6.18).
MEMASLAP_OUT = b"""servers: 127.0.0.1:22122
threads count: 1
concurrency: 128
run time: 4s
windows size: 10k
set proportion: set_prop=0.10
get proportion: get_prop=0.90
cmd_get: 800623
cmd_set: 89028
get_misses: 0
written_bytes: 72056610
read_bytes: 148808755
object_bytes: 14600592

Run time: 4.0s Ops: 889651 TPS: 222394 Net_rate: 52.7M/s
"""

# What memaslap prints when nothing listens on the port (and it still exits 0).
MEMASLAP_NO_SERVER = b"""servers: 127.0.0.1:1
threads count: 1
concurrency: 4
run time: 1s
windows size: 10k
set proportion: set_prop=0.10
get proportion: get_prop=0.90
"""


def test_config_file():
    assert MemaslapLoad(value_size=100, set_proportion=0.1).config() == (
        "key\n64 64 1\nvalue\n100 100 1\ncmd\n0 0.1\n1 0.9\n")
    assert MemaslapLoad(set_proportion=1.0).config().endswith("cmd\n0 1.0\n1 0.0\n")


def test_command_line(tmp_path):
    argv = command("memcaslap", "127.0.0.1:5", MemaslapLoad(concurrency=500, multiget=10),
                   tmp_path / "c.cfg", 5, None)
    assert argv[:3] == ["memcaslap", "-s", "127.0.0.1:5"]
    assert argv[argv.index("-c") + 1] == "500" and argv[argv.index("-d") + 1] == "10"
    assert argv[argv.index("-t") + 1] == "5s"


def test_parse_a_real_run():
    res = parse_output(MEMASLAP_OUT)
    assert res.error is None
    assert res.tps == 222394 and res.ops == 889651 and res.seconds == 4.0
    assert res.counters["cmd_get"] == 800623 and res.counters["get_misses"] == 0


def test_parse_a_run_that_reached_no_server():
    res = parse_output(MEMASLAP_NO_SERVER)
    assert res.tps is None and "no result line" in res.error


def test_ratios_are_medians_of_rounds():
    w = WORKLOADS[0]
    ms = []
    for rnd, (mc, ours) in enumerate([(100, 70), (200, 100), (100, 60)]):
        ms += [Measurement(w.name, "memcached", rnd, mc), Measurement(w.name, "ours", rnd, ours)]
    (row,) = summarize([w], ms, have_ours=True)
    assert row["ratios"] == [0.7, 0.5, 0.6]
    assert row["ratio"] == pytest.approx(0.6) and row["meets_goal"] is True
    assert row["memcached"] == 100 and row["ours"] == 70
    assert "0.60x" in format_table([row])


def test_latency_goal_is_an_upper_bound():
    w = next(w for w in WORKLOADS if w.lower_is_better)
    ms = [Measurement(w.name, "memcached", 0, 100.0), Measurement(w.name, "ours", 0, 200.0)]
    (row,) = summarize([w], ms, have_ours=True)
    assert row["ratio"] == 2.0 and row["meets_goal"] is False
    assert "BELOW GOAL" in format_table([row])


def test_memcached_only():
    w = WORKLOADS[0]
    (row,) = summarize([w], [Measurement(w.name, "memcached", 0, 5.0, error=None)], have_ours=False)
    assert row["ours"] is None and row["ratio"] is None and row["meets_goal"] is None
