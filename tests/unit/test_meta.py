"""Meta protocol: the parser (every flag and error, fed whole and byte by byte) and the handlers
over a FakeClock (what depends on time, which the differential suite cannot pin down)."""

import base64

import pytest
from hypothesis import given, settings, strategies as st

from memcache_py.errors import ClientError, ProtocolError, UnknownCommand
from memcache_py.meta import (MetaArith, MetaDebug, MetaDelete, MetaGet, MetaNoop, MetaSet,
                              decode_key, echo_opaque_key, encode_key, server_flags)
from memcache_py.parser import NEED_DATA, RequestParser
from memcache_py.requests import ValueDiscarded
from memcache_py.requests import Get, ValueReceived

pytestmark = pytest.mark.unit

BAD_FORMAT = ClientError("bad command line format")
BAD_TOKEN = ClientError("bad token in command line format")
DUPLICATE = ClientError("duplicate flag")
INVALID = ClientError("invalid flag")
INVALID_OR_DUP = ClientError("invalid or duplicate flag")


def mg(key=b"k", flags=(), binary=False, value=False, quiet=False, no_update=False,
       exptime=None, vivify=None, recache=None):
    return MetaGet(key, tuple(flags), binary, value, quiet, no_update, exptime, vivify, recache)


def ms(key=b"k", nbytes=1, flags=(), binary=False, client_flags=0, exptime=0, mode=b"set",
       cas=0, stale=False, quiet=False, error=None):
    return MetaSet(key, nbytes, tuple(flags), binary, client_flags, exptime, mode, cas, stale,
                   quiet, error)


def md(key=b"k", flags=(), binary=False, quiet=False, cas=None, stale=False, exptime=None):
    return MetaDelete(key, tuple(flags), binary, quiet, cas, stale, exptime)


def ma(key=b"k", flags=(), binary=False, quiet=False, value=False, incr=True, delta=1,
       initial=0, cas=0, vivify=None, exptime=None):
    return MetaArith(key, tuple(flags), binary, quiet, value, incr, delta, initial, cas, vivify,
                     exptime)


def drain(parser, sinks):
    """Every event the parser can produce now; ms values go into bytearray sinks."""
    events = []
    for _ in range(10_000):
        try:
            ev = parser.next_request()
        except ProtocolError as exc:
            events.append(exc)
            continue
        if ev is NEED_DATA:
            return events
        if isinstance(ev, ValueDiscarded):      # the swallow of a refused block finished
            continue
        events.append(ev)
        if isinstance(ev, MetaSet):
            if ev.error is not None:
                parser.discard_value()
            else:
                sinks.append(bytearray(ev.nbytes + 2))
                parser.receive_value_into([memoryview(sinks[-1])])
    raise AssertionError("parser did not stop")


def feed(data: bytes, mode: str):
    parser, sinks, events = RequestParser(), [], []
    chunks = [data] if mode == "whole" else [data[i:i + 1] for i in range(len(data))]
    for chunk in chunks:
        parser.receive_data(chunk)
        events += drain(parser, sinks)
    return events, sinks


class MsError:
    """Expect an ms header refused after its length is known (the block is then swallowed)."""

    def __init__(self, error: str, nbytes: int = 1):
        self.error, self.nbytes = error, nbytes

    def __repr__(self):
        return f"MsError({self.error!r})"


def same(got, want):
    if isinstance(want, MsError):
        return isinstance(got, MetaSet) and (got.error, got.nbytes) == (want.error, want.nbytes)
    if isinstance(got, ProtocolError):
        return type(got) is type(want) and got.reply == want.reply
    return got == want


@pytest.fixture(params=["whole", "bytewise"])
def mode(request):
    return request.param


B64 = base64.b64encode("テスト".encode()).decode().encode()

CASES = [
    # ---- command and key ------------------------------------------------------------------
    (b"mn\r\n", [MetaNoop()]),
    (b"mn extra tokens\r\n", [MetaNoop()]),
    (b"mx foo\r\n", [UnknownCommand()]),
    (b"m\r\n", [UnknownCommand()]),
    (b"mgg foo\r\n", [UnknownCommand()]),
    (b"MG foo\r\n", [UnknownCommand()]),
    (b"mg\r\n", [UnknownCommand()]),
    (b"mg \r\n", [UnknownCommand()]),
    (b"ms\r\n", [UnknownCommand()]),
    (b"md\r\n", [UnknownCommand()]),
    (b"ma\r\n", [UnknownCommand()]),
    (b"me\r\n", [BAD_FORMAT]),
    (b"mg " + b"k" * 250 + b"\r\n", [mg(b"k" * 250)]),
    (b"mg " + b"k" * 251 + b" v\r\n", [BAD_FORMAT]),
    (b"md " + b"k" * 251 + b"\r\n", [BAD_FORMAT]),
    (b"ma " + b"k" * 251 + b"\r\n", [BAD_FORMAT]),
    (b"me " + b"k" * 251 + b"\r\n", [BAD_FORMAT]),
    (b"ms " + b"k" * 251 + b" 1\r\nx\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"mg " + b"A" * 252 + b" b v\r\n", [BAD_FORMAT]),       # raw token, before decoding
    (b"   mg   k   v  \r\n", [mg(flags=[b"v"], value=True)]),
    (b"mg k\x00 v\r\n", [mg()]),
    # ---- flag count -----------------------------------------------------------------------
    (b"mg k " + b" ".join([b"v"] * 18) + b"\r\n", [ClientError("options flags are too long")]),
    (b"md k " + b" ".join([b"q"] * 18) + b"\r\n", [ClientError("options flags too long")]),
    (b"ma k " + b" ".join([b"v"] * 18) + b"\r\n", [ClientError("options flags too long")]),
    (b"ms k 1 " + b" ".join([b"T0"] * 17) + b"\r\nx\r\n",
     [ClientError("options flags too long"), UnknownCommand()]),
    (b"mg k " + b" ".join([b"O1"] * 17) + b"\r\n", [DUPLICATE]),     # 19 tokens: preparsed
    # ---- duplicate / unknown letters ------------------------------------------------------
    (b"mg k v v\r\n", [DUPLICATE]),
    (b"mg k T1 T2\r\n", [DUPLICATE]),
    (b"mg k \xffx\r\n", [DUPLICATE]),                    # a byte >= 127 counts as a duplicate
    (b"mg k v !\r\n", [INVALID]),
    (b"mg k E5\r\n", [INVALID]),                         # E: later versions only
    (b"mg k Tx !\r\n", [INVALID]),                       # unknown letter beats an earlier error
    (b"ms k 1 T0 T0\r\ny\r\n", [MsError("duplicate flag")]),
    (b"ms k 1 y\r\n3\r\n", [MsError("invalid flag")]),
    (b"md k q q\r\n", [INVALID_OR_DUP]),
    (b"md k x\r\n", [INVALID_OR_DUP]),
    (b"ma k v v\r\n", [INVALID_OR_DUP]),
    (b"ma k !\r\n", [INVALID_OR_DUP]),
    # ---- numeric arguments ----------------------------------------------------------------
    (b"mg k Tabc\r\n", [BAD_TOKEN]),
    (b"mg k T\r\n", [BAD_TOKEN]),
    (b"mg k N1x\r\n", [BAD_TOKEN]),
    (b"mg k R-\r\n", [BAD_TOKEN]),
    (b"mg k Cx\r\n", [BAD_TOKEN]),
    (b"mg k Fx\r\n", [BAD_FORMAT]),
    (b"mg k Dx\r\n", [ClientError("invalid numeric delta value")]),
    (b"mg k Jx\r\n", [ClientError("invalid numeric initial value")]),
    (b"mg k Mxx\r\n", [ClientError("incorrect length for M token")]),
    (b"mg k Tx Fx\r\n", [BAD_TOKEN]),                    # F keeps the earlier message
    (b"mg k Fx Tx\r\n", [BAD_TOKEN]),
    (b"mg k Tx Nx Dx\r\n", [ClientError("invalid numeric delta value")]),   # the last wins
    (b"ms k 1 Tx\r\n2\r\n", [MsError("bad token in command line format")]),
    (b"ms k 1 Fx\r\n2\r\n", [MsError("bad command line format")]),
    (b"ms k 1 F-1\r\n2\r\n", [MsError("bad command line format")]),
    (b"ms k 1 Cabc\r\n2\r\n", [MsError("bad token in command line format")]),
    (b"md k Cabc\r\n", [INVALID_OR_DUP]),
    (b"md k Tabc I\r\n", [INVALID_OR_DUP]),
    (b"ma k Dabc\r\n", [INVALID_OR_DUP]),
    (b"ma k Jx N0\r\n", [INVALID_OR_DUP]),
    (b"ma k D18446744073709551616\r\n", [INVALID_OR_DUP]),
    # ---- mg flags -------------------------------------------------------------------------
    (b"mg k\r\n", [mg()]),
    (b"mg k v s f t c k h l O123 q u\r\n",
     [mg(flags=[b"v", b"s", b"f", b"t", b"c", b"k", b"h", b"l", b"O123", b"q", b"u"],
         value=True, quiet=True, no_update=True)]),
    (b"mg k T30 N-1 R+5\r\n", [mg(flags=[b"T30", b"N-1", b"R+5"], exptime=30, vivify=-1,
                                  recache=5)]),
    (b"mg k P L\r\n", [mg(flags=[b"P", b"L"])]),
    (b"mg k O\r\n", [mg(flags=[b"O"])]),
    (b"mg k vv ss\r\n", [mg(flags=[b"vv", b"ss"], value=True)]),
    (b"mg k C5 D5 J5 F5 I MZ\r\n", [mg(flags=[b"C5", b"D5", b"J5", b"F5", b"I", b"MZ"])]),
    (b"mg k O" + b"x" * 40 + b"\r\n", [mg(flags=[b"O" + b"x" * 40])]),   # checked on echo
    (b"mg " + B64 + b" b k\r\n", [mg("テスト".encode(), flags=[b"b", b"k"], binary=True)]),
    (b"mg !!!! b v\r\n", [ClientError("error decoding key")]),
    (b"mg abc b\r\n", [ClientError("error decoding key")]),
    (b"mg = b\r\n", [ClientError("error decoding key")]),
    (b"mg !! b Tx\r\n", [BAD_TOKEN]),
    (b"mg Tx b\r\n", [ClientError("error decoding key")]),
    # ---- ms -------------------------------------------------------------------------------
    (b"ms k 1\r\nx\r\n", [ms(), ValueReceived(True)]),
    (b"ms k 0\r\n\r\n", [ms(nbytes=0), ValueReceived(True)]),
    (b"ms k +1\r\nx\r\n", [ms(), ValueReceived(True)]),
    (b"ms k 4294967297\r\nx\r\n", [ms(), ValueReceived(True)]),      # strtol wrap, as memcached
    (b"ms k 1\r\nabc\r\n", [ms(), ValueReceived(False), UnknownCommand()]),
    (b"ms k\r\n", [BAD_FORMAT]),
    (b"ms k T0\r\n", [BAD_FORMAT]),
    (b"ms k S2\r\nab\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"ms k abc\r\nx\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"ms k -1\r\nx\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"ms k 1x\r\nx\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"ms k 2147483646\r\nx\r\n", [BAD_FORMAT, UnknownCommand()]),
    (b"ms k 2 T100 F4294967295 q k c O7 I s N30 v t h l u P L\r\nab\r\n",
     [ms(nbytes=2, flags=b"T100 F4294967295 q k c O7 I s N30 v t h l u P L".split(),
         client_flags=4294967295, exptime=100, quiet=True), ValueReceived(True)]),
    (b"ms k 1 F4294967296\r\nx\r\n", [ms(flags=[b"F4294967296"]), ValueReceived(True)]),
    (b"ms k 1 T-1\r\nx\r\n", [ms(flags=[b"T-1"], exptime=-1), ValueReceived(True)]),
    (b"ms k 1 ME\r\nx\r\n", [ms(flags=[b"ME"], mode=b"add"), ValueReceived(True)]),
    (b"ms k 1 MA\r\nx\r\n", [ms(flags=[b"MA"], mode=b"append"), ValueReceived(True)]),
    (b"ms k 1 MP\r\nx\r\n", [ms(flags=[b"MP"], mode=b"prepend"), ValueReceived(True)]),
    (b"ms k 1 MR\r\nx\r\n", [ms(flags=[b"MR"], mode=b"replace"), ValueReceived(True)]),
    (b"ms k 1 MS\r\nx\r\n", [ms(flags=[b"MS"]), ValueReceived(True)]),
    (b"ms k 1 C5\r\nx\r\n", [ms(flags=[b"C5"], mode=b"cas", cas=5), ValueReceived(True)]),
    (b"ms k 1 C5 MR\r\nx\r\n", [ms(flags=[b"C5", b"MR"], mode=b"cas", cas=5),
                                ValueReceived(True)]),
    (b"ms k 1 C5 MA\r\nx\r\n", [ms(flags=[b"C5", b"MA"], mode=b"append", cas=5),
                                ValueReceived(True)]),
    (b"ms k 1 C5 ME I\r\nx\r\n", [ms(flags=[b"C5", b"ME", b"I"], mode=b"add", cas=5),
                                  ValueReceived(True)]),
    (b"ms k 1 I C5\r\nx\r\n", [ms(flags=[b"I", b"C5"], mode=b"cas", cas=5, stale=True),
                               ValueReceived(True)]),
    (b"ms k 1 I\r\nx\r\n", [ms(flags=[b"I"]), ValueReceived(True)]),
    (b"ms k 1 MX\r\nx\r\n", [MsError("invalid mode for ms M token")]),
    (b"ms k 1 Ms\r\nx\r\n", [MsError("invalid mode for ms M token")]),
    (b"ms k 1 MSS\r\nx\r\n", [MsError("incorrect length for M token")]),
    (b"ms k 1 M\r\nx\r\n", [MsError("incorrect length for M token")]),
    (b"ms k 1 O" + b"x" * 32 + b"\r\nx\r\n",
     [MsError("opaque token too long")]),
    (b"ms k 1 MX O" + b"x" * 32 + b"\r\nx\r\n",
     [MsError("invalid mode for ms M token")]),
    (b"ms k 1 O" + b"x" * 31 + b"\r\nx\r\n", [ms(flags=[b"O" + b"x" * 31]),
                                               ValueReceived(True)]),
    (b"ms #### 1 b\r\nx\r\n", [MsError("error decoding key")]),
    (b"ms " + B64 + b" 3 b\r\nbin\r\n",
     [ms("テスト".encode(), nbytes=3, flags=[b"b"], binary=True), ValueReceived(True)]),
    (b"ms k 1 q\r\nx\r\nmn\r\n", [ms(flags=[b"q"], quiet=True), ValueReceived(True),
                                  MetaNoop()]),
    # ---- md -------------------------------------------------------------------------------
    (b"md k\r\n", [md()]),
    (b"md k q C0 k O5 I T30 P L\r\n",
     [md(flags=b"q C0 k O5 I T30 P L".split(), quiet=True, cas=0, stale=True, exptime=30)]),
    (b"md k v s f t\r\n", [md(flags=[b"v", b"s", b"f", b"t"])]),
    (b"md a=b= b\r\n", [md(b"h", flags=[b"b"], binary=True)]),
    (b"md ==== b\r\n", [INVALID_OR_DUP]),
    # ---- ma -------------------------------------------------------------------------------
    (b"ma k\r\n", [ma()]),
    (b"ma k v q D10 J5 N0 T30 C9 k O1\r\n",
     [ma(flags=b"v q D10 J5 N0 T30 C9 k O1".split(), value=True, quiet=True, delta=10,
         initial=5, vivify=0, exptime=30, cas=9)]),
    (b"ma k MD\r\n", [ma(flags=[b"MD"], incr=False)]),
    (b"ma k M-\r\n", [ma(flags=[b"M-"], incr=False)]),
    (b"ma k M+\r\n", [ma(flags=[b"M+"])]),
    (b"ma k MI\r\n", [ma(flags=[b"MI"])]),
    (b"ma k Md\r\n", [ClientError("invalid mode for ma M token")]),
    (b"ma k MX\r\n", [ClientError("invalid mode for ma M token")]),
    (b"ma k MDD\r\n", [INVALID_OR_DUP]),
    (b"ma k M\r\n", [INVALID_OR_DUP]),
    (b"ma k D18446744073709551615\r\n", [ma(flags=[b"D18446744073709551615"],
                                            delta=2**64 - 1)]),
    (b"ma k s f h l u\r\n", [ma(flags=[b"s", b"f", b"h", b"l", b"u"])]),
    # ---- me -------------------------------------------------------------------------------
    (b"me k\r\n", [MetaDebug(b"k")]),
    (b"me k extra\r\n", [MetaDebug(b"k")]),
    (b"me YQ== b\r\n", [MetaDebug(b"a")]),
    (b"me YQ== bb\r\n", [MetaDebug(b"YQ==")]),
    (b"me !! b\r\n", [BAD_FORMAT]),
    # ---- mixed with classic ---------------------------------------------------------------
    (b"mg a v\r\nget a\r\nmn\r\n", [mg(b"a", flags=[b"v"], value=True), Get([b"a"], False,
                                                                             False, 0),
                                   MetaNoop()]),
]


@pytest.mark.parametrize("data,expected", CASES, ids=[repr(c[0][:40]) for c in CASES])
def test_case(data, expected, mode):
    events, _ = feed(data, mode)
    assert len(events) == len(expected), events
    for got, want in zip(events, expected):
        assert same(got, want), (got, want)


def test_ms_value_lands_in_the_sink(mode):
    _, sinks = feed(b"ms k 5 T0\r\nhello\r\nms j 2\r\n\r\n\r\n", mode)
    assert [bytes(s) for s in sinks] == [b"hello\r\n", b"\r\n\r\n"]


def test_ms_error_swallows_exactly_the_block(mode):
    events, sinks = feed(b"ms k 3 MX\r\nmn\r\r\nmn\r\n", mode)
    assert [type(e) for e in events] == [MetaSet, MetaNoop] and not sinks


def test_ms_fragmented_header_and_value():
    events, sinks = [], []
    parser = RequestParser()
    for chunk in (b"ms msf1 ", b"10 T0", b" F1\r\n01234", b"56789\r", b"\n", b"mg msf1 v\r\n"):
        parser.receive_data(chunk)
        events += drain(parser, sinks)
    assert events[0] == ms(b"msf1", 10, flags=[b"T0", b"F1"], client_flags=1)
    assert events[1:] == [ValueReceived(True), mg(b"msf1", flags=[b"v"], value=True)]
    assert bytes(sinks[0]) == b"0123456789\r\n"


# ---- helpers --------------------------------------------------------------------------------
@pytest.mark.parametrize("token,key", [
    (b"bWJ2MQ==", b"mbv1"), (b"AAFiaW4=", b"\x00\x01bin"), (b"a=b=", b"h"), (b"AA==", b"\x00"),
    (b"YW!Jj", b"abc"), (b"YWJj====", None),
    (b"!!!!", None), (b"abc", None), (b"====", None), (b"=", None), (b"A===", None),
])
def test_decode_key_is_memcacheds_base64_decode(token, key):
    assert decode_key(token) == key


def test_decode_key_round_trips_any_bytes():
    for n in range(1, 188):
        raw = bytes((i * 37 + n) & 0xFF for i in range(n))
        assert decode_key(base64.b64encode(raw)) == raw


def test_reply_helpers():
    assert encode_key(b"foo", False) == b" kfoo"
    assert encode_key("テスト".encode(), True) == b" k" + B64 + b" b"
    assert echo_opaque_key((b"v", b"O1", b"k", b"t"), b"foo", False) == b" O1 kfoo"
    with pytest.raises(ClientError, match="opaque token too long"):
        echo_opaque_key((b"O" + b"x" * 32,), b"foo", False)
    assert server_flags(True, True, False) == b" Z X"
    assert server_flags(False, True, True) == b" X W"
    assert server_flags(False, False, False) == b""


# ---- handlers over a FakeClock --------------------------------------------------------------
class Harness:
    """A daemon without sockets: bytes in, the joined reply out (connection.process's loop)."""

    def __init__(self):
        import dataclasses

        from memcache_py.clock import FakeClock
        from memcache_py.commands import HANDLERS, Session
        from memcache_py.server import build_daemon
        from memcache_py.settings import Settings
        self.clock = FakeClock()
        settings = dataclasses.replace(Settings(), memory_limit=4 * 1024 * 1024)
        self.daemon = build_daemon(settings, clock=self.clock)
        self.session = Session(self.daemon, RequestParser())
        self.handlers = HANDLERS

    def __call__(self, data: bytes) -> bytes:
        session, out = self.session, []
        session.parser.receive_data(data)
        for _ in range(10_000):
            try:
                req = session.parser.next_request()
                if req is NEED_DATA:
                    break
                self.handlers[type(req)](session, req, out)
            except ProtocolError as exc:
                out.append(exc.reply)
        reply = b"".join(bytes(p) for p in out)
        session.pins.release_all()
        return reply

    @property
    def stats(self):
        return self.daemon.stats


@pytest.fixture
def srv():
    h = Harness()
    yield h
    h.session.release()
    h.daemon.cache.store.check_invariants()


def test_ttl_counts_down_and_expires(srv):
    assert srv(b"ms k 1 T10\r\nx\r\nmg k t\r\n") == b"HD\r\nHD t10\r\n"
    srv.clock.advance(4)
    assert srv(b"mg k t v\r\n") == b"VA 1 t6\r\nx\r\n"
    assert srv(b"me k\r\n") == b"ME k exp=6 la=4 cas=1 fetch=yes cls=1 size=61\r\n"  # no bump <60s
    srv.clock.advance(6)
    assert srv(b"mg k t v\r\nme k\r\n") == b"EN\r\nEN\r\n"


def test_last_access_and_fetched(srv):
    srv(b"ms k 1\r\nx\r\n")
    srv.clock.advance(70)
    assert srv(b"mg k h l\r\n") == b"HD h0 l70\r\n"         # values from before this request
    assert srv(b"mg k h l\r\n") == b"HD h1 l0\r\n"          # ...which bumped it
    srv.clock.advance(5)
    assert srv(b"mg k u l\r\nme k\r\n") == b"HD l5\r\nME k exp=-1 la=5 cas=1 fetch=yes " \
                                           b"cls=1 size=61\r\n"


def test_recache_window_follows_the_clock(srv):
    srv(b"ms k 1 T100\r\nx\r\n")
    assert srv(b"mg k R30\r\n") == b"HD\r\n"
    srv.clock.advance(71)
    assert srv(b"mg k R30 t\r\n") == b"HD t29 W\r\n"
    assert srv(b"mg k R30 t\r\n") == b"HD t29 Z\r\n"


def test_vivify_lease_then_fill(srv):
    assert srv(b"mg k N30 s t v\r\n") == b"VA 0 s0 t30 W\r\n\r\n"
    assert srv(b"mg k N30 s c\r\n") == b"HD s0 c1 Z\r\n"
    assert srv(b"ms k 3 T60\r\nnew\r\nmg k N30 v t\r\n") == b"HD\r\nVA 3 t60\r\nnew\r\n"
    assert (srv.stats.cmd_get, srv.stats.get_hits, srv.stats.get_misses) == (3, 3, 0)


def test_stale_set_keeps_ttl_and_token(srv):
    srv(b"ms k 1 T100\r\nx\r\nmd k I T30\r\n")
    assert srv(b"mg k c v\r\n") == b"VA 1 c2 X W\r\nx\r\n"
    assert srv(b"ms k 1 I C1 c\r\ny\r\n") == b"HD c3\r\n"    # lower CAS: stored, still stale
    assert srv(b"mg k v t\r\n") == b"VA 1 t30 Z X\r\ny\r\n"
    assert srv(b"ms k 1 I C9\r\nz\r\n") == b"EX\r\n"         # higher CAS: a plain mismatch
    assert srv(b"ms k 1 C3\r\nz\r\nmg k v\r\n") == b"HD\r\nVA 1\r\nz\r\n"


def test_mg_pins_the_value_until_sent(srv):
    store = srv.daemon.cache.store
    out = []
    srv.session.parser.receive_data(b"ms k 3\r\nabc\r\nmg k v\r\n")
    for _ in range(3):
        req = srv.session.parser.next_request()
        srv.handlers[type(req)](srv.session, req, out)
    off = store.index[b"k"]
    assert store.refs.get(off) == 1
    srv(b"md k\r\n")                        # unlinked while queued: the chunk stays until sent
    assert b"".join(bytes(p) for p in out).endswith(b"VA 3\r\nabc\r\n")
    srv.session.pins.release_all()
    assert off not in store.refs


def test_ma_counts_and_ttl(srv):
    assert srv(b"ma n N0 J5 v\r\nma n v T50 t\r\nma n MD D9 v\r\nma x\r\n") == (
        b"VA 1\r\n5\r\nVA 1 t50\r\n6\r\nVA 1\r\n0\r\nNF\r\n")
    s = srv.stats
    assert (s.incr_hits, s.incr_misses, s.decr_hits, s.decr_misses) == (1, 1, 1, 0)
    assert srv(b"mg n v\r\n") == b"VA 1\r\n0\r\n"


def test_md_counts(srv):
    srv(b"ms a 1\r\nx\r\nms b 1\r\nx\r\n")
    assert srv(b"md a q\r\nmd a\r\nmd b C99\r\nmd b I\r\nmn\r\n") == b"NF\r\nEX\r\nHD\r\nMN\r\n"
    s = srv.stats
    assert (s.delete_hits, s.delete_misses) == (1, 2)


def test_ms_too_large_swallows_and_drops_the_old_value(srv):
    srv(b"ms k 1\r\nx\r\n")
    big = 2 * 1024 * 1024
    assert srv(b"ms k %d MA c\r\n" % big + b"y" * big + b"\r\nmg k\r\n") == (
        b"SERVER_ERROR object too large for cache\r\nEN\r\n")
    assert srv.stats.store_too_large == 1 and srv.stats.cmd_set == 1


# ---- properties -----------------------------------------------------------------------------
FLAG_TOKENS = [b"v", b"s", b"f", b"t", b"c", b"k", b"h", b"l", b"u", b"q", b"b", b"I", b"P",
               b"T0", b"T30", b"T-1", b"N30", b"R30", b"C1", b"C2", b"C0", b"F5", b"D3", b"J7",
               b"MD", b"MA", b"ME", b"MP", b"MR", b"MS", b"M+", b"O1", b"Tx", b"!", b"vv"]
KEYS = [b"a", b"b", b"YQ==", b"Yg==", b"k" * 251]


@st.composite
def meta_line(draw):
    verb = draw(st.sampled_from([b"mg", b"ms", b"md", b"ma", b"me", b"mn"]))
    key = draw(st.sampled_from(KEYS))
    flags = draw(st.lists(st.sampled_from(FLAG_TOKENS), max_size=6))
    if verb == b"ms":
        value = draw(st.sampled_from([b"", b"1", b"42", b"xyz"]))
        return b" ".join([verb, key, b"%d" % len(value), *flags]) + b"\r\n" + value + b"\r\n"
    return b" ".join([verb, key, *flags]) + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(st.lists(meta_line(), min_size=1, max_size=12))
def test_parser_whole_equals_bytewise(lines):
    data = b"".join(lines)
    whole, _ = feed(data, "whole")
    bytewise, _ = feed(data, "bytewise")
    assert len(whole) == len(bytewise)
    assert all(same(a, b) for a, b in zip(whole, bytewise))


@settings(max_examples=150, deadline=None)
@given(st.lists(meta_line(), min_size=1, max_size=20), st.integers(0, 40))
def test_handlers_never_crash_and_keep_invariants(lines, tick):
    srv = Harness()
    for line in lines:
        srv(line)                           # only ProtocolError is allowed to escape a handler
        srv.clock.advance(tick % 7)
    srv(b"mn\r\n")
    srv.session.release()
    srv.daemon.cache.store.check_invariants()
    assert not srv.daemon.cache.store.refs
