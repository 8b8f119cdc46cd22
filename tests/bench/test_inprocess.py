"""bench.inprocess: the per-request measurement serves real requests and reports each workload."""

import pytest

from bench import inprocess

pytestmark = pytest.mark.unit


def test_measure_reports_every_workload():
    figures = inprocess.measure(repeat=1, number=50)
    assert set(figures) == {"get", "set", "get10", "miss"}
    assert all(us > 0 for us in figures.values())


def test_requests_are_answered_as_memcached_would():
    proto = inprocess.connected_protocol()
    work = inprocess.requests()
    proto.data_received(work["set"][0])
    proto.data_received(work["get"][0])
    proto.data_received(work["miss"][0])
    written = proto.transport.written
    assert written == len(b"STORED\r\n") + len(b"VALUE key:00000000 0 100\r\n") + 100 + 2 \
        + len(b"END\r\n") * 2


def test_run_only_serves_count_requests(capsys):
    assert inprocess.main(["--only", "get10", "--count", "30"]) == 0
