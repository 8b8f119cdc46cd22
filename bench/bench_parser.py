"""pytest-benchmark: the parser's hot paths (make bench).

`python -m pytest bench/bench_parser.py` (pytest collects a file named on the command line
whatever its name). Each benchmark feeds a realistic batch and drains the parser, so the
figure is per batch; divide by the batch size for per-request cost.
"""

import pytest

from memcache_py.parser import NEED_DATA, RequestParser
from memcache_py.requests import Get, Store, ValueReceived

pytestmark = pytest.mark.benchmark

KEYS = [b"key:%08d" % i for i in range(1000)]
GETS_100 = b"".join(b"get " + k + b"\r\n" for k in KEYS[:100])
MULTIGET_10 = b"get " + b" ".join(KEYS[:10]) + b"\r\n"
VALUE_100 = b"v" * 100
VALUE_16K = b"w" * 16384


def _drain(parser: RequestParser, sink: bytearray) -> int:
    """Pull every request out of the parser; values go into `sink`. Returns the count."""
    n = 0
    view = memoryview(sink)
    while True:
        req = parser.next_request()
        if req is NEED_DATA:
            return n
        if type(req) is Store:
            parser.receive_value_into([view[:req.nbytes + 2]])
            continue
        n += 1


def test_get_x100_pipelined(benchmark):
    parser, sink = RequestParser(), bytearray(64)

    def run():
        parser.receive_data(GETS_100)
        return _drain(parser, sink)
    assert benchmark(run) == 100


def test_multiget_10_keys(benchmark):
    parser = RequestParser()

    def run():
        parser.receive_data(MULTIGET_10)
        return parser.next_request()
    req = benchmark(run)
    assert type(req) is Get and len(req.keys) == 10


@pytest.mark.parametrize("value", [VALUE_100, VALUE_16K], ids=["100B", "16KB"])
def test_set_x10_pipelined(benchmark, value):
    batch = b"".join(b"set %b 0 0 %d\r\n%b\r\n" % (k, len(value), value) for k in KEYS[:10])
    parser, sink = RequestParser(), bytearray(len(value) + 2)

    def run():
        parser.receive_data(batch)
        return _drain(parser, sink)
    assert benchmark(run) == 10          # the ValueReceived of each set
    assert bytes(sink[:len(value)]) == value


def test_set_16kb_in_1500_byte_segments(benchmark):
    """A large value that arrives in MTU-sized pieces: the receive buffer must stay O(bytes)."""
    data = b"set big 0 0 16384\r\n" + VALUE_16K + b"\r\n"
    segments = [data[i:i + 1500] for i in range(0, len(data), 1500)]
    parser, sink = RequestParser(), bytearray(16386)

    def run():
        got = []
        for seg in segments:
            parser.receive_data(seg)
            while True:
                req = parser.next_request()
                if req is NEED_DATA:
                    break
                if type(req) is Store:
                    parser.receive_value_into([memoryview(sink)])
                else:
                    got.append(req)
        return got
    got = benchmark(run)
    assert len(got) == 1 and type(got[0]) is ValueReceived and got[0].valid
