"""bench.stress options, latency histogram and report: pure parts, no sockets."""

import json

import pytest

from bench.stress.cli import failed
from bench.stress.latency import LatencyHistogram
from bench.stress.options import parse_args
from bench.stress.report import format_table, summarize, write_json, write_png
from bench.stress.runner import RunResult
from bench.stress.worker import COUNTERS, _share

pytestmark = pytest.mark.unit


def test_defaults_and_memory_flags():
    opts = parse_args([])
    assert opts.server == "ours" and opts.target is None
    assert opts.key_prefix.startswith("st:") and opts.key_prefix.endswith(":")
    assert opts.memory_flags() == ["-m", "32", "-I", "1m", "-f", "1.25", "-n", "48"]
    assert parse_args(["-M", "-m", "8"]).memory_flags()[-1] == "-M"
    assert parse_args(["--target", "127.0.0.1:11211"]).target == ("127.0.0.1", 11211)
    assert parse_args(["--target", "localhost:1"]).target == ("localhost", 1)
    assert parse_args(["--target", ":5"]).target == ("127.0.0.1", 5)


@pytest.mark.parametrize("argv", [["--target", "10.0.0.1:11211"], ["--target", "example.com:1"],
                                  ["--mix", "get=1,fly=1"], ["--value-size", "huge"],
                                  ["--workers", "0"], ["--keys", "1", "--workers", "2"],
                                  ["--compare-memcached", "--target", "127.0.0.1:1"]])
def test_bad_options_are_refused(argv):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2


def test_options_pickle_and_json():
    import pickle
    opts = parse_args(["--target", "127.0.0.1:9"])
    assert pickle.loads(pickle.dumps(opts)) == opts
    assert json.loads(json.dumps(opts.as_json()))["target"] == "127.0.0.1:9"


def test_share_splits_evenly():
    assert [_share(10, 3, i) for i in range(3)] == [4, 3, 3]
    assert sum(_share(7, 4, i) for i in range(4)) == 7


def test_latency_histogram_percentiles_and_merge():
    h = LatencyHistogram()
    for us in range(1, 1001):
        h.add(us / 1e6)
    assert h.total == 1000
    assert 480 <= h.percentile(50) <= 530          # buckets are ~4.4% wide
    assert 960 <= h.percentile(99) <= 1000
    other = LatencyHistogram.from_dict(json.loads(json.dumps(h.to_dict())))
    h.merge(other)
    assert h.total == 2000 and 480 <= h.percentile(50) <= 530
    assert LatencyHistogram().percentile(50) is None


def _result(label, corrupt=0, died=False):
    totals = dict.fromkeys(COUNTERS, 0)
    totals.update(ops=1000, get_keys=800, hits=600, corrupt=corrupt, set_oom=3)
    samples = []
    for t in range(1, 4):
        samples.append({"t": float(t), "ops_s": 300.0 + t, "hit_ratio": 0.7, "gen_cpu": [50.0],
                        "server_cpu": 40.0, "machine_cpu": 100.0, "set_oom": t, "corrupt": corrupt,
                        "stale": 0,
                        "server": {"evictions": 10 * t, "outofmemory": t, "rss": (30 + t) << 20,
                                   "curr_items": 100 * t, "bytes": 1000 * t,
                                   "pages": {1: t, 5: 1}}})
    return RunResult(label, ["x"], duration=3.0, samples=samples, totals=totals,
                     latency={"get": {"p50_us": 100.0, "p99_us": 900.0}}, server_died=died)


def test_summary_table_and_failure_reasons():
    ours, theirs = summarize(_result("ours"), 1), summarize(_result("memcached"), 1)
    assert ours["ops_s"] == pytest.approx(1000 / 3)
    assert ours["hit_ratio"] == pytest.approx(0.75)
    assert ours["evictions"] == 20 and ours["rss_peak_mb"] == pytest.approx(33)
    assert ours["pages"] == 4
    table = format_table([ours, theirs])
    assert "ours/memcached" in table and "1.00x" in table
    assert "CORRUPTED values" in table
    assert failed([ours, theirs]) == []
    bad = summarize(_result("ours", corrupt=2, died=True), 1)
    reasons = failed([bad])
    assert any("2 corrupted" in r for r in reasons) and any("died" in r for r in reasons)


def test_json_and_png(tmp_path):
    results = [_result("ours"), _result("memcached")]
    summaries = [summarize(r, 1) for r in results]
    write_json(tmp_path / "s.json", {"k": 1}, results, summaries)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert [r["label"] for r in doc["runs"]] == ["ours", "memcached"]
    assert len(doc["runs"][0]["samples"]) == 3
    write_png(tmp_path / "s.png", results)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
