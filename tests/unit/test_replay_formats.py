"""replay's trace readers: each format on small files, detection, damaged records."""

from __future__ import annotations

import struct

import pytest
import zstandard

from memcache_py.replay.formats import ADD, DELETE, GET, REPLACE, SET, Trace, TraceError, detect

pytestmark = pytest.mark.unit

TWITTER = (b"0,q:1,3,100,1,get,0\n"
           b"0,q:1,3,100,1,set,60\n"
           b"1,q:2,10,5,2,add,0\n"
           b"2,q:2,10,5,2,cas,0\n"
           b"3,q:1,3,0,1,delete,0\n")


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_twitter_csv_plain(tmp_path):
    t = Trace(write(tmp_path, "t.csv", TWITTER))
    assert t.format == "twitter" and t.records_sets()
    reqs = list(t.requests())
    assert reqs[0] == (0, GET, b"q:1", 100, 0)
    assert reqs[1] == (0, SET, b"q:1", 100, 60)
    # the anonymised key is shorter than its recorded size: padded, so the item is as large
    assert reqs[2] == (1, ADD, b"q:2" + b"\0" * 7, 5, 0)
    assert reqs[3][1] == REPLACE and reqs[4][1] == DELETE


def test_twitter_csv_zstd_is_the_same(tmp_path):
    plain = Trace(write(tmp_path, "t.csv", TWITTER))
    packed = Trace(write(tmp_path, "t.csv.zst", zstandard.ZstdCompressor().compress(TWITTER)))
    assert packed.compressed and packed.format == "twitter"
    assert list(packed.requests()) == list(plain.requests())


def test_twitter_key_with_commas_is_kept_whole(tmp_path):
    t = Trace(write(tmp_path, "t.csv", b"5,a,b,c,5,10,1,get,0\n"))
    assert list(t.requests()) == [(5, GET, b"a,b,c", 10, 0)]


def test_damaged_line_names_the_line(tmp_path):
    path = write(tmp_path, "t.csv", TWITTER + b"4,q:1,3,x,1,get,0\n" + TWITTER)
    with pytest.raises(TraceError, match=r"t\.csv:6: .*--skip-bad-lines"):
        list(Trace(path).requests())
    t = Trace(path, skip_bad_lines=True)
    assert len(list(t.requests())) == 10 and t.skipped == 1


def test_unknown_operation_is_an_error(tmp_path):
    path = write(tmp_path, "t.csv", b"0,k,1,1,1,get,0\n0,k,1,1,1,frob,0\n")
    with pytest.raises(TraceError, match=r":2: unknown operation 'frob'"):
        list(Trace(path, "twitter").requests())


def test_oracle_general_binary(tmp_path):
    rec = struct.Struct("<IQIq")
    data = rec.pack(10, 42, 4096, 3) + rec.pack(11, 7, 100, -1)
    t = Trace(write(tmp_path, "x.oracleGeneral.bin", data))
    assert t.format == "oracle" and not t.records_sets()
    assert list(t.requests()) == [(10, GET, b"42", 4096, 0), (11, GET, b"7", 100, 0)]


def test_oracle_general_detected_from_its_bytes(tmp_path):
    rec = struct.Struct("<IQIq")
    assert Trace(write(tmp_path, "trace.bin", rec.pack(0, 1, 2, 3) * 3)).format == "oracle"


def test_oracle_truncated_record(tmp_path):
    rec = struct.Struct("<IQIq")
    path = write(tmp_path, "t.oracleGeneral", rec.pack(1, 2, 3, 4) + b"\1\2\3")
    with pytest.raises(TraceError, match=r"truncated record at byte 24 \(3 of 24 bytes\)"):
        list(Trace(path).requests())


def test_libcachesim_csv_with_and_without_header(tmp_path):
    t = Trace(write(tmp_path, "a.csv", b"time,obj_id,obj_size\n1,100,20\n2,200,30\n"))
    assert t.format == "csv"
    assert list(t.requests()) == [(1, GET, b"100", 20, 0), (2, GET, b"200", 30, 0)]
    t = Trace(write(tmp_path, "b.csv", b"1,100,20\n2,200,30,-1\n"))
    assert list(t.requests()) == [(1, GET, b"100", 20, 0), (2, GET, b"200", 30, 0)]


def test_libcachesim_csv_header_with_op_and_ttl(tmp_path):
    t = Trace(write(tmp_path, "a.csv", b"obj_size,op,time,obj_id,ttl\n20,set,1,9,30\n"))
    assert list(t.requests()) == [(1, SET, b"9", 20, 30)]
    assert t.records_sets()


def test_libcachesim_csv_damaged(tmp_path):
    path = write(tmp_path, "a.csv", b"1,100,20\n2,200\n")
    with pytest.raises(TraceError, match=r"a\.csv:2: expected numeric"):
        list(Trace(path).requests())


WATCH_LOG = (
    b"OK\r\n"
    b"ts=1796355352.321828 gid=2 type=conn_new rip=127.0.0.1 rport=38844 transport=tcp cfd=25\n"
    b"ts=1796355352.325948 gid=3 type=item_get key=foo status=not_found clsid=0 cfd=25 size=0\n"
    b"ts=1796355352.325949 gid=4 type=item_get key=foo status=not_found clsid=0 cfd=25 size=0\n"
    b"ts=1796355352.325981 gid=5 type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 "
    b"cfd=25 size=3\n"
    b"skipped=3\n"
    b"ts=1796355353.630859 gid=9 type=item_get key=k%C3y status=found clsid=1 cfd=25 size=3\n"
    b"ts=1796355353.532927 gid=10 type=item_store key=t status=stored cmd=set ttl=4294967233 "
    b"clsid=1 cfd=26 size=2\n"
    b"ts=1796355354.1 gid=11 type=eviction key=foo fetch=no ttl=-1 la=3 clsid=1 size=3\n"
    b"ts=1796355355.36259 gid=12 type=item_get key=zz status=not_found clsid=0 cfd=25 size=0\n"
    b"ts=1796355355.36299 gid=13 type=item_store key=zz status=not_stored cmd=add ttl=9 "
    b"clsid=1 cfd=25 size=1\n")


def test_watch_log(tmp_path):
    t = Trace(write(tmp_path, "w.log", WATCH_LOG))
    assert t.format == "watch" and t.records_sets()
    assert list(t.requests()) == [
        (1796355352, GET, b"foo", 0, 0),        # the client's get; the store's lookup dropped
        (1796355352, SET, b"foo", 3, 0),
        (1796355353, GET, b"k\xc3y", 3, 0),     # keys are URI-decoded
        (1796355353, SET, b"t", 2, -1),         # an exptime in the past, logged unsigned
        (1796355355, ADD, b"zz", 1, 9),         # replayed: the cache decides again
    ]


def test_watch_log_damaged(tmp_path):
    path = write(tmp_path, "w.log", WATCH_LOG + b"ts=1 gid=2 type=item_get key=a\n")
    with pytest.raises(TraceError, match=r"w\.log:12: bad watch log line \(no size= field\)"):
        list(Trace(path).requests())
    path = write(tmp_path, "w2.log", b"ts=1 gid=1 type=item_get key=a status=found clsid=1 "
                                     b"cfd=1 size=1\nhello\n")
    with pytest.raises(TraceError, match=r":2: not a watch log line"):
        list(Trace(path).requests())


def test_detect_and_errors(tmp_path):
    assert detect(b"ts=1 gid=1 type=item_get") == "watch"
    assert detect(b"1,k,1,1,1,get,0\n") == "twitter"
    assert detect(b"1,2,3\n") == "csv"
    with pytest.raises(TraceError, match="--format"):
        detect(b"hello\n")
    with pytest.raises(TraceError, match="empty trace"):
        Trace(write(tmp_path, "e.csv", b""))
    with pytest.raises(TraceError, match="cannot read"):
        Trace(str(tmp_path / "missing.csv"))
    with pytest.raises(TraceError, match="unknown format"):
        Trace(write(tmp_path, "x.csv", b"1,2,3\n"), "parquet")


def test_streamed_not_loaded(tmp_path):
    """requests() is a generator over the file: nothing is read before it is asked for."""
    t = Trace(write(tmp_path, "t.csv", TWITTER * 1000))
    stream = t.requests()
    assert next(stream)[2] == b"q:1"
    assert t.position() < t.size
    stream.close()
