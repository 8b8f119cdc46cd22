"""bench.stress --size-shift: phases of value sizes over time, and the per-interval hit ratio
and pages-moved table printed after a run."""

import random

import pytest

from bench.stress.options import parse_args
from bench.stress.report import format_timeline
from bench.stress.runner import RunResult
from bench.stress.workload import SizeSchedule, parse_size_shift

pytestmark = pytest.mark.unit


def test_parse_size_shift():
    assert parse_size_shift("100:30s,2000") == [("100", 30.0), ("2000", None)]
    assert parse_size_shift("64-128:5,1k:10s,2k") == [("64-128", 5.0), ("1k", 10.0),
                                                       ("2k", None)]
    for bad in ("", "100,2000", "100:0s,2000", "100:-3,1"):
        with pytest.raises(ValueError):
            parse_size_shift(bad)


def test_schedule_follows_the_clock_from_the_first_value():
    now = [1000.0]
    sched = SizeSchedule("100:30s,2000:10s,500", random.Random(0), clock=lambda: now[0])
    assert sched.largest == 2000
    assert sched() == 100                   # the first value starts the schedule
    now[0] += 29.9
    assert sched() == 100
    now[0] += 0.2
    assert sched() == 2000
    now[0] += 10
    assert sched() == 500
    now[0] += 1000
    assert sched() == 500


def test_bad_size_shift_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--size-shift", "100,2000"])
    assert "needs a length" in capsys.readouterr().err
    assert parse_args(["--size-shift", "100:30s,2000"]).size_shift == "100:30s,2000"


def test_timeline_hit_ratio_per_interval_and_pages_moved():
    samples = [{"t": t, "hits": hits, "misses": misses, "server": {"slabs_moved": moved}}
               for t, hits, misses, moved in ((1, 90, 10, 0), (4.5, 180, 20, 0),
                                              (6, 190, 110, 1), (9, 200, 200, 3),
                                              (11, 400, 200, 5))]
    r = RunResult("ours", ["x"], samples=samples)
    lines = format_timeline([r], every=5.0).splitlines()
    assert lines[0].split() == ["seconds", "ours", "hit", "moved"]
    assert [line.split() for line in lines[1:]] == [["5", "0.900", "0"],
                                                    ["10", "0.100", "3"],
                                                    ["15", "1.000", "5"]]
