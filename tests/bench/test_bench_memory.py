"""bench.throughput's memory workloads: the fill, the stats it reads, the RSS ratio and the
item-count check."""

import socket
import threading

import pytest

from bench.throughput.compare import (MIB, WORKLOADS, Measurement, build_parser, format_table,
                                      memory_figure, summarize)
from bench.throughput.memfill import MemoryFill, fill_batch, parse_stats, run, summarize_fill

pytestmark = pytest.mark.unit

MEMORY = {w.name: w for w in WORKLOADS if w.fill is not None}

# The end of a real reply to `mn\r\nstats\r\n` from memcached 1.6.18 after the 100-byte fill.
STATS_REPLY = (b"MN\r\n"
               b"STAT pid 4242\r\n"
               b"STAT version 1.6.18\r\n"
               b"STAT limit_maxbytes 67108864\r\n"
               b"STAT bytes 57050432\r\n"
               b"STAT curr_items 349504\r\n"
               b"STAT total_items 450000\r\n"
               b"STAT evictions 100496\r\n"
               b"END\r\n")


def test_the_memory_workloads():
    assert set(MEMORY) == {"memory_100B", "memory_1KB"}
    small, large = MEMORY["memory_100B"], MEMORY["memory_1KB"]
    assert small.fill == MemoryFill(keys=450_000, value_size=100, batch=500)
    assert large.fill.value_size == 1024 and large.fill.keys == 90_000
    assert (small.goal, large.goal) == (1.5, 1.3)
    assert small.lower_is_better and large.lower_is_better and small.load is None
    # selectable like the others
    assert "memory_1KB" in build_parser().parse_args([]).workloads.split(",")


def test_fill_batch_is_pipelined_noreply_sets():
    data = fill_batch(7, 9, 5)
    assert data == (b"set key:000000000007 0 0 5 noreply\r\nvvvvv\r\n"
                    b"set key:000000000008 0 0 5 noreply\r\nvvvvv\r\n")
    assert fill_batch(0, 500, 100).count(b" noreply\r\n" + b"v" * 100 + b"\r\n") == 500


def test_parse_stats():
    stats, other = parse_stats(STATS_REPLY)
    assert stats["curr_items"] == "349504" and stats["version"] == "1.6.18"
    assert other == []
    stats, other = parse_stats(b"SERVER_ERROR out of memory storing object\r\n" + STATS_REPLY)
    assert other == ["SERVER_ERROR out of memory storing object"]


def test_summarize_fill():
    stats, other = parse_stats(b"SERVER_ERROR x\r\nSERVER_ERROR x\r\n" + STATS_REPLY)
    out = summarize_fill(stats, other, MemoryFill(450_000, 100), 2.0)
    assert out["curr_items"] == 349504 and out["evictions"] == 100496
    assert out["total_items"] == 450000 and out["limit_maxbytes"] == 64 * MIB
    assert out["sets_per_s"] == 225_000 and out["other_replies"] == 2
    assert out["other_reply_kinds"] == {"SERVER_ERROR x": 2}
    assert summarize_fill({}, [], MemoryFill(1, 1), 0.0)["curr_items"] is None


def test_run_against_a_fake_server():
    """The fill sends every set before `mn` and `stats`, and reads the reply to the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def serve():
        conn, _ = listener.accept()
        with conn:
            while not received.endswith(b"mn\r\nstats\r\n"):
                received.extend(conn.recv(65536))
            conn.sendall(STATS_REPLY[:40])          # a reply in pieces
            conn.sendall(STATS_REPLY[40:])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        out = run("127.0.0.1", listener.getsockname()[1], MemoryFill(1234, 10, batch=500),
                  timeout=10)
    finally:
        thread.join(10)
        listener.close()
    assert received.count(b" noreply\r\n") == 1234
    assert received.startswith(b"set key:000000000000 0 0 10 noreply\r\n")
    assert b"set key:000000001233 " in received and b"key:000000001234" not in received
    assert out["curr_items"] == 349504 and out["keys_sent"] == 1234


def test_memory_figure_is_mib():
    assert memory_figure(69 * MIB) == 69.0
    assert memory_figure(None) is None


def _memory_rounds(w, rounds):
    ms = []
    for rnd, (mc, ours) in enumerate(rounds):
        for server, (rss, items, evictions) in (("memcached", mc), ("ours", ours)):
            ms.append(Measurement(w.name, server, rnd, rss,
                                  {"curr_items": items, "evictions": evictions,
                                   "rss_start": 2 * MIB}))
    return ms


def test_memory_ratio_is_an_upper_bound_and_notes_show_items():
    w = MEMORY["memory_100B"]
    ms = _memory_rounds(w, [((69.0, 349504, 100496), (108.0, 349504, 100496))])
    (row,) = summarize([w], ms, have_ours=True)
    assert row["ratio"] == pytest.approx(108 / 69) and row["meets_goal"] is False
    assert row["flags"] == []
    assert row["notes"][0].startswith("memcached: ")
    assert "349,504 items, 100,496 evictions" in row["notes"][0]
    assert "ours: " in row["notes"][1] and "349,504 items" in row["notes"][1]
    table = format_table([row])
    assert "RSS MiB" in table and "1.57x" in table and "<=1.5x" in table
    assert "BELOW GOAL" in table and "ITEMS DIFFER" not in table

    ms = _memory_rounds(w, [((69.0, 349504, 100496), (100.0, 349504, 100496))])
    (row,) = summarize([w], ms, have_ours=True)
    assert row["meets_goal"] is True and format_table([row]).rstrip().endswith("ok")


def test_differing_item_counts_are_flagged_and_miss_the_goal():
    w = MEMORY["memory_1KB"]
    ms = _memory_rounds(w, [((70.0, 56000, 34000), (80.0, 55000, 35000))])
    (row,) = summarize([w], ms, have_ours=True)
    assert row["ratio_ok"] is True and row["meets_goal"] is False
    assert row["flags"] == ["ITEMS DIFFER"]
    assert any("memcached 56,000, ours 55,000 (-1,000)" in n for n in row["notes"])
    table = format_table([row])
    assert "ITEMS DIFFER" in table and "BELOW GOAL" not in table


def test_memory_memcached_only():
    w = MEMORY["memory_100B"]
    ms = _memory_rounds(w, [((69.0, 349504, 100496), (None, None, None))])
    (row,) = summarize([w], [m for m in ms if m.server == "memcached"], have_ours=False)
    assert row["ratio"] is None and row["meets_goal"] is None and row["flags"] == []
    assert row["memcached"] == 69.0
