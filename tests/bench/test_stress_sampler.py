"""bench.stress.sampler parses what memcached 1.6.18 really says.

The replies below were captured from `memcached -t 1 -o no_modern -m 2` after 30 000 sets of
100- and 2000-byte values (so with evictions), and from the same with `-M` (so with
`outofmemory`): two slab classes, 4 (192-byte chunks) and 15 (2320-byte chunks).
"""

import os

import pytest

from bench.stress.sampler import (GENERAL_KEYS, MachineCpuMeter, StatsSampler, parse_items,
                                  parse_slabs, parse_stats, read_cpu_seconds, read_rss)

pytestmark = pytest.mark.unit

STATS_REPLY = (
    b'STAT pid 8043\r\n'
    b'STAT uptime 4\r\n'
    b'STAT time 1795559335\r\n'
    b'STAT version 1.6.18\r\n'
    b'STAT libevent 2.1.12-stable\r\n'
    b'STAT pointer_size 64\r\n'
    b'STAT rusage_user 0.009308\r\n'
    b'STAT rusage_system 0.027925\r\n'
    b'STAT max_connections 1024\r\n'
    b'STAT curr_connections 1\r\n'
    b'STAT total_connections 2\r\n'
    b'STAT connection_structures 2\r\n'
    b'STAT response_obj_oom 0\r\n'
    b'STAT response_obj_count 1\r\n'
    b'STAT response_obj_bytes 16384\r\n'
    b'STAT read_buf_count 3\r\n'
    b'STAT read_buf_bytes 49152\r\n'
    b'STAT read_buf_bytes_free 16384\r\n'
    b'STAT read_buf_oom 0\r\n'
    b'STAT reserved_fds 5\r\n'
    b'STAT cmd_get 2\r\n'
    b'STAT cmd_set 30000\r\n'
    b'STAT cmd_flush 0\r\n'
    b'STAT cmd_touch 0\r\n'
    b'STAT cmd_meta 0\r\n'
    b'STAT get_hits 1\r\n'
    b'STAT get_misses 1\r\n'
    b'STAT get_expired 0\r\n'
    b'STAT get_flushed 0\r\n'
    b'STAT delete_misses 0\r\n'
    b'STAT delete_hits 0\r\n'
    b'STAT incr_misses 0\r\n'
    b'STAT incr_hits 0\r\n'
    b'STAT decr_misses 0\r\n'
    b'STAT decr_hits 0\r\n'
    b'STAT cas_misses 0\r\n'
    b'STAT cas_hits 0\r\n'
    b'STAT cas_badval 0\r\n'
    b'STAT touch_hits 0\r\n'
    b'STAT touch_misses 0\r\n'
    b'STAT store_too_large 0\r\n'
    b'STAT store_no_memory 0\r\n'
    b'STAT auth_cmds 0\r\n'
    b'STAT auth_errors 0\r\n'
    b'STAT bytes_read 22658912\r\n'
    b'STAT bytes_written 240127\r\n'
    b'STAT limit_maxbytes 2097152\r\n'
    b'STAT accepting_conns 1\r\n'
    b'STAT listen_disabled_num 0\r\n'
    b'STAT time_in_listen_disabled_us 0\r\n'
    b'STAT threads 1\r\n'
    b'STAT conn_yields 1226\r\n'
    b'STAT hash_power_level 16\r\n'
    b'STAT hash_bytes 524288\r\n'
    b'STAT hash_is_expanding 0\r\n'
    b'STAT malloc_fails 0\r\n'
    b'STAT log_worker_dropped 0\r\n'
    b'STAT log_worker_written 0\r\n'
    b'STAT log_watcher_skipped 0\r\n'
    b'STAT log_watcher_sent 0\r\n'
    b'STAT log_watchers 0\r\n'
    b'STAT unexpected_napi_ids 0\r\n'
    b'STAT round_robin_fallback 0\r\n'
    b'STAT bytes 1832380\r\n'
    b'STAT curr_items 5912\r\n'
    b'STAT total_items 30000\r\n'
    b'STAT slab_global_page_pool 0\r\n'
    b'STAT expired_unfetched 0\r\n'
    b'STAT evicted_unfetched 24088\r\n'
    b'STAT evictions 24088\r\n'
    b'STAT reclaimed 0\r\n'
    b'STAT crawler_reclaimed 0\r\n'
    b'STAT crawler_items_checked 0\r\n'
    b'STAT lrutail_reflocked 0\r\n'
    b'END\r\n'
)

STATS_SLABS_REPLY = (
    b'STAT 4:chunk_size 192\r\n'
    b'STAT 4:chunks_per_page 5461\r\n'
    b'STAT 4:total_pages 1\r\n'
    b'STAT 4:total_chunks 5461\r\n'
    b'STAT 4:used_chunks 5461\r\n'
    b'STAT 4:free_chunks 0\r\n'
    b'STAT 4:free_chunks_end 0\r\n'
    b'STAT 4:get_hits 1\r\n'
    b'STAT 4:cmd_set 20000\r\n'
    b'STAT 4:delete_hits 0\r\n'
    b'STAT 4:incr_hits 0\r\n'
    b'STAT 4:decr_hits 0\r\n'
    b'STAT 4:cas_hits 0\r\n'
    b'STAT 4:cas_badval 0\r\n'
    b'STAT 4:touch_hits 0\r\n'
    b'STAT 15:chunk_size 2320\r\n'
    b'STAT 15:chunks_per_page 451\r\n'
    b'STAT 15:total_pages 1\r\n'
    b'STAT 15:total_chunks 451\r\n'
    b'STAT 15:used_chunks 451\r\n'
    b'STAT 15:free_chunks 0\r\n'
    b'STAT 15:free_chunks_end 0\r\n'
    b'STAT 15:get_hits 0\r\n'
    b'STAT 15:cmd_set 10000\r\n'
    b'STAT 15:delete_hits 0\r\n'
    b'STAT 15:incr_hits 0\r\n'
    b'STAT 15:decr_hits 0\r\n'
    b'STAT 15:cas_hits 0\r\n'
    b'STAT 15:cas_badval 0\r\n'
    b'STAT 15:touch_hits 0\r\n'
    b'STAT active_slabs 2\r\n'
    b'STAT total_malloced 2094832\r\n'
    b'END\r\n'
)

STATS_ITEMS_REPLY = (
    b'STAT items:4:number 5461\r\n'
    b'STAT items:4:age 2\r\n'
    b'STAT items:4:mem_requested 901065\r\n'
    b'STAT items:4:evicted 14539\r\n'
    b'STAT items:4:evicted_nonzero 0\r\n'
    b'STAT items:4:evicted_time 0\r\n'
    b'STAT items:4:outofmemory 0\r\n'
    b'STAT items:4:tailrepairs 0\r\n'
    b'STAT items:4:reclaimed 0\r\n'
    b'STAT items:4:expired_unfetched 0\r\n'
    b'STAT items:4:evicted_unfetched 14539\r\n'
    b'STAT items:4:crawler_reclaimed 0\r\n'
    b'STAT items:4:crawler_items_checked 0\r\n'
    b'STAT items:4:lrutail_reflocked 0\r\n'
    b'STAT items:15:number 451\r\n'
    b'STAT items:15:age 2\r\n'
    b'STAT items:15:mem_requested 931315\r\n'
    b'STAT items:15:evicted 9549\r\n'
    b'STAT items:15:evicted_nonzero 0\r\n'
    b'STAT items:15:evicted_time 0\r\n'
    b'STAT items:15:outofmemory 0\r\n'
    b'STAT items:15:tailrepairs 0\r\n'
    b'STAT items:15:reclaimed 0\r\n'
    b'STAT items:15:expired_unfetched 0\r\n'
    b'STAT items:15:evicted_unfetched 9549\r\n'
    b'STAT items:15:crawler_reclaimed 0\r\n'
    b'STAT items:15:crawler_items_checked 0\r\n'
    b'STAT items:15:lrutail_reflocked 0\r\n'
    b'END\r\n'
)

STATS_ITEMS_NO_EVICT_REPLY = (
    b'STAT items:4:number 5461\r\n'
    b'STAT items:4:age 1\r\n'
    b'STAT items:4:mem_requested 894866\r\n'
    b'STAT items:4:evicted 0\r\n'
    b'STAT items:4:evicted_nonzero 0\r\n'
    b'STAT items:4:evicted_time 0\r\n'
    b'STAT items:4:outofmemory 7872\r\n'
    b'STAT items:4:tailrepairs 0\r\n'
    b'STAT items:4:reclaimed 0\r\n'
    b'STAT items:4:expired_unfetched 0\r\n'
    b'STAT items:4:evicted_unfetched 0\r\n'
    b'STAT items:4:crawler_reclaimed 0\r\n'
    b'STAT items:4:crawler_items_checked 0\r\n'
    b'STAT items:4:lrutail_reflocked 0\r\n'
    b'STAT items:15:number 451\r\n'
    b'STAT items:15:age 1\r\n'
    b'STAT items:15:mem_requested 930492\r\n'
    b'STAT items:15:evicted 0\r\n'
    b'STAT items:15:evicted_nonzero 0\r\n'
    b'STAT items:15:evicted_time 0\r\n'
    b'STAT items:15:outofmemory 6217\r\n'
    b'STAT items:15:tailrepairs 0\r\n'
    b'STAT items:15:reclaimed 0\r\n'
    b'STAT items:15:expired_unfetched 0\r\n'
    b'STAT items:15:evicted_unfetched 0\r\n'
    b'STAT items:15:crawler_reclaimed 0\r\n'
    b'STAT items:15:crawler_items_checked 0\r\n'
    b'STAT items:15:lrutail_reflocked 0\r\n'
    b'END\r\n'
)

def test_general_stats_parse_to_numbers():
    stats = parse_stats(STATS_REPLY)
    assert stats["version"] == "1.6.18"
    assert stats["libevent"] == "2.1.12-stable"
    assert stats["curr_items"] == 5912
    assert stats["evictions"] == 24088
    assert stats["limit_maxbytes"] == 2 * 1024 * 1024
    assert stats["rusage_user"] == pytest.approx(0.009308)
    assert all(key in stats for key in GENERAL_KEYS)
    assert len(stats) == STATS_REPLY.count(b"STAT ")


def test_parse_stats_stops_at_end_and_accepts_str():
    text = "STAT a 1\r\nEND\r\nSTAT b 2\r\n"
    assert parse_stats(text) == {"a": 1}


def test_stats_slabs_per_class_and_totals():
    per_class, totals = parse_slabs(STATS_SLABS_REPLY)
    assert sorted(per_class) == [4, 15]
    assert per_class[4]["chunk_size"] == 192
    assert per_class[4]["chunks_per_page"] == 5461
    assert per_class[15]["total_pages"] == 1
    assert per_class[15]["used_chunks"] == 451
    assert totals == {"active_slabs": 2, "total_malloced": 2094832}


def test_stats_items_per_class():
    items = parse_items(STATS_ITEMS_REPLY)
    assert sorted(items) == [4, 15]
    assert items[4]["number"] == 5461
    assert items[4]["evicted"] + items[15]["evicted"] == parse_stats(STATS_REPLY)["evictions"]
    assert items[4]["outofmemory"] == 0


def test_stats_items_outofmemory_with_no_evict():
    items = parse_items(STATS_ITEMS_NO_EVICT_REPLY)
    assert items[4]["outofmemory"] == 7872
    assert all(v["evicted"] == 0 for v in items.values())


def test_sample_assembles_a_row_from_canned_replies(monkeypatch):
    replies = {b"stats": STATS_REPLY, b"stats slabs": STATS_SLABS_REPLY,
               b"stats items": STATS_ITEMS_NO_EVICT_REPLY}
    sampler = StatsSampler("127.0.0.1", 1)
    monkeypatch.setattr(sampler, "query", lambda cmd: replies[cmd])
    row = sampler.sample(pid=os.getpid())
    assert row["curr_items"] == 5912 and row["evictions"] == 24088
    assert row["total_malloced"] == 2094832
    assert row["pages"] == {4: 1, 15: 1}
    assert row["outofmemory"] == sum(v["outofmemory"] for v in
                                     parse_items(STATS_ITEMS_NO_EVICT_REPLY).values())
    assert row["rss"] > 1024 * 1024
    assert row["cpu_seconds"] >= 0


def test_sample_survives_a_server_without_stats_groups(monkeypatch):
    replies = {b"stats": STATS_REPLY, b"stats slabs": b"ERROR\r\n", b"stats items": None}
    sampler = StatsSampler("127.0.0.1", 1)
    monkeypatch.setattr(sampler, "query", lambda cmd: replies[cmd])
    row = sampler.sample()
    assert row["pages"] == {} and row["outofmemory"] == 0 and "rss" not in row


def test_sample_counts_failures_when_the_server_is_silent(monkeypatch):
    sampler = StatsSampler("127.0.0.1", 1)
    monkeypatch.setattr(sampler, "query", lambda cmd: None)
    assert sampler.sample() is None and sampler.sample() is None
    assert sampler.failures == 2


def test_proc_readers():
    assert read_rss(os.getpid()) > 1024 * 1024
    assert read_cpu_seconds(os.getpid()) > 0
    assert read_rss(2 ** 22 + 12345) is None
    meter = MachineCpuMeter()
    sum(range(200_000))
    value = meter()
    assert value is None or 0 <= value <= 100 * (os.cpu_count() or 1) + 1
