"""Coverage-guided fuzzing of the sans-IO RequestParser with atheris (issue #5). Not run in CI.

    pip install atheris
    python fuzz/atheris_parser.py -max_total_time=60            # or -atheris_runs=200000
    python fuzz/atheris_parser.py fuzz/corpus -max_total_time=600  # keep a corpus

The first input byte picks how the rest is cut into reads; the same driver as
tests/unit/test_fuzz_parser.py feeds them. Only requests, NEED_DATA and ProtocolError may
come out, and what the parser holds must stay bounded (2048 bytes of a non-get line,
GET_LINE_MAX of a get line). Every 10 000 inputs the stream is also fed whole and compared.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

with atheris.instrument_imports():
    import memcache_py.meta          # noqa: F401
    import memcache_py.parser        # noqa: F401
    from tests.unit.test_fuzz_parser import COUNTS, drive

RUNS = {"n": 0}


def test_one_input(data: bytes) -> None:
    if not data:
        return
    fdp = atheris.FuzzedDataProvider(data)
    cuts = fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 12), 0, 4096)
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    chunks, last = [], 0
    for c in sorted(min(c, len(stream)) for c in cuts) + [len(stream)]:
        if c > last:
            chunks.append(stream[last:c])
            last = c
    split = drive(chunks)
    RUNS["n"] += 1
    if RUNS["n"] % 10000 == 0:
        whole = drive([stream])
        # lines > 2048 bytes may close only when split; compare only the short-line streams
        if max((len(x) for x in stream.split(b"\n")), default=0) < 2000:
            assert whole == split, (stream[:200], whole, split)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        print(f"atheris_parser: {COUNTS['inputs']} parser drives", file=sys.stderr)


if __name__ == "__main__":
    main()
