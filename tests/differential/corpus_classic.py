"""Classic text protocol corpus (spec/protocol.md), one Case per behaviour.

Conventions
* Shared-pair cases (no flags, not ``fresh``) run concurrently on one server pair: every key a
  case touches starts with that case's own prefix (``test_classic.py`` lints this), and no
  case assumes the cache is empty.
* ``fresh=True`` (implied by ``flags``/``stats``) gives the case its own servers: use it for
  counters, flush_all, literal CAS values and anything global.
* Chunks are sent one by one with a pause; put commands whose *timing* matters (a TTL read right
  after a store) in the same chunk.
"""

from __future__ import annotations

import time

from .harness import Case, Endpoint, Reply, case, connect, run_session, _recv_some

CRLF = "\r\n"


def st(key: str, value: str | bytes = "v", flags: int = 0, exp: int = 0, cmd: str = "set",
       extra: str = "") -> bytes:
    """A storage command with its data block."""
    if isinstance(value, str):
        value = value.encode("latin-1")
    head = f"{cmd} {key} {flags} {exp} {len(value)}{(' ' + extra) if extra else ''}\r\n"
    return head.encode("latin-1") + value + b"\r\n"


def cat(*parts: bytes | str) -> bytes:
    return b"".join(p.encode("latin-1") if isinstance(p, str) else p for p in parts)


CASES: list[Case] = []


def add(c: Case) -> None:
    CASES.append(c)


# =============================================================================================
# §1 Framing and tokenizing
# =============================================================================================
add(case("frame_bare_newline",
         "set fbn1 0 0 3\nbar\r\nget fbn1\n", "gets fbn1\n",
         doc="a bare \\n ends a command line"))
add(case("frame_bare_newline_after_data",
         "set fbnd 0 0 3\r\nbar\n", "get fbnd\r\n", "get fbnd\r\n",
         doc="data block followed by a bare \\n: the trailer check swallows one byte of the "
             "next command"))
add(case("frame_leading_spaces",
         st("fls1", "abc"), "      get fls1\r\n", " \t get fls1\r\n",
         doc="leading spaces are ignored; a tab is not a separator"))
add(case("frame_trailing_spaces",
         st("fts1", "abc"), "get fts1    \r\n", "delete fts1   \r\n", "get fts1 \r\n"))
add(case("frame_space_runs",
         "set   fsr1   0    0   2  \r\nab\r\n", "get    fsr1     fsr1\r\n"))
add(case("frame_tab_separator",
         "set fts2\t0 0 1\r\nx\r\n", "get fts2\r\n", "get\tfts2\r\n",
         doc="TAB is part of the token: 'set fts2\\t0 0 1' has 4 tokens -> ERROR, data line too"))
add(case("frame_nul_in_line",
         st("fnl1", "abc"), "get fnl1\0fnl2 junk\r\n", "get fnl1 \0\r\n", "\0get fnl1\r\n",
         doc="parsing stops at the first NUL"))
add(case("frame_nul_in_data",
         st("fnd1", b"a\0b\0\r\n\0"), "get fnd1\r\n"))
add(case("frame_case_sensitive",
         "VERSION\r\n", "GET fcs1\r\n", "Set fcs1 0 0 1\r\nx\r\n", "get fcs1\r\n",
         "DELETE fcs1\r\n"))
add(case("frame_blank_lines",
         "\r\n", "\n", " \n", "   \r\n", "\r\n\r\n", "version\r\n"))
add(case("frame_lone_cr",
         "\r", "get fcr1\r\r\n", "get fcr1\r \r\n"))
add(case("frame_unknown_command",
         "foo\r\n", "foo bar baz\r\n", "gett x\r\n", "sett x 0 0 1\r\nx\r\n", "m\r\n"))
add(case("frame_extra_tokens_storage",
         "set fet1 0 0 1 noreply extra\r\nx\r\n", "get fet1\r\n",
         "cas fet1 0 0 1 1 noreply extra\r\nx\r\n",
         doc="a fixed-arity command with too many tokens -> ERROR; the data line -> ERROR"))
add(case("frame_extra_tokens_other",
         "touch fet2 0 noreply extra\r\n", "incr fet2 1 noreply extra\r\n",
         "delete fet2 0 noreply extra\r\n", "flush_all 0 noreply extra\r\n",
         "verbosity 1 noreply extra\r\n"))
add(case("frame_max_tokens",
         st("fmt1", "1"),
         "touch fmt1 0 " + " ".join(f"t{i}" for i in range(30)) + "\r\n",
         "incr fmt1 " + " ".join(str(i) for i in range(21)) + "\r\n",
         "incr fmt1 1 x\r\n",
         "get fmt1 " + " ".join(f"fmt{i}" for i in range(2, 30)) + " fmt1\r\n",
         doc="24-token tokenizer: fixed-arity commands reject extra tokens; get re-tokenizes"))
add(case("frame_multiget_30_keys",
         st("fmg5", "five"), st("fmg17", "seventeen"),
         "get " + " ".join(f"fmg{i}" for i in range(30)) + "\r\n",
         "gets " + " ".join(f"fmg{i}" for i in range(30)) + "\r\n"))
add(case("frame_multiget_10000_keys",
         st("fmh7777", "x"),
         "get " + " ".join(f"fmh{i}" for i in range(10000)) + "\r\n",
         doc="a ~70 KB multi-get line in one write is legal"))
add(case("frame_bad_data_chunk",
         "set fbd1 0 0 1\r\nabc\r\n", "get fbd1\r\n",
         st("fbd1", "ok"), "set fbd1 0 0 2\r\nxyZZ", "get fbd1\r\n",
         doc="CLIENT_ERROR bad data chunk, nothing stored, parsing resumes after bytes+2"))
add(case("frame_data_short_then_more",
         "set fds1 0 0 10\r\n", "01234", "56789", "\r", "\n", "get fds1\r\n"))
add(case("frame_pipelined",
         cat(st("fpp1", "a"), st("fpp2", "bb"), "get fpp1 fpp2\r\n", "delete fpp1\r\n",
             "incr fpp2 1\r\n", "version\r\n", "get fpp1 fpp2\r\n", "bogus\r\n",
             st("fpp3", "c", cmd="add"), "gets fpp3\r\n")))
add(case("frame_fragmented_bytes",
         *[bytes([b]) for b in st("ffb1", "hello", flags=3)], *[bytes([b]) for b in b"get ffb1\r\n"],
         pause=0.002, doc="every byte in its own send"))
add(case("frame_fragmented_mid_token",
         "se", "t ffm1 0", " 0 5\r", "\nhe", "llo\r", "\n", "ge", "t ffm1", "\r\n"))
add(case("frame_data_with_crlf_inside",
         st("fdc1", "a\r\nb\r\nEND\r\n"), "get fdc1\r\n"))

# §1.1 line length limit -------------------------------------------------------------------
add(case("line_2100_partial_set_closes",
         "set " + "a" * 2096, close=True,
         doc=">2048 bytes buffered without \\n on a non-get line: closed, no reply"))
add(case("line_2100_partial_after_ok_command",
         "version\r\n", "set " + "b" * 2096, close=True))
add(case("line_2000_partial_kept_open",
         "set " + "a" * 1996, " 0 0 1\r\nx\r\n", "version\r\n",
         doc="2000 bytes without \\n is kept; the completed line has a >250 byte key"))
add(case("line_20k_set_one_write_closes",
         "set lsw1 0 0 1 " + "y" * 20000 + "\r\nx\r\n", close=True))
add(case("line_3000_complete_set",
         "set llc1 0 0 1 " + "y" * 3000 + "\r\nx\r\nget llc1\r\n",
         doc="a long line that arrives complete is parsed; the 6th token is ignored"))
add(case("line_long_get_partial_kept",
         st("llg1", "x"), "get " + " ".join(f"llg{i}" for i in range(1, 700)),
         " llg1\r\n", doc="get/gets lines may grow past 2048 bytes"))
add(case("line_long_gets_partial_kept",
         st("llh1", "x"), "gets " + " ".join(f"llh{i}" for i in range(1, 700)), "\r\n"))
add(case("line_long_get_leading_spaces",
         st("lls1", "x"), "    get " + " ".join(f"lls{i}" for i in range(1, 700)), "\r\n"))
add(case("line_long_gat_partial_closes",
         "gat 0 " + " ".join(f"llt{i}" for i in range(1, 700)), close=True,
         doc="only get/gets are exempt from the 2048-byte rule"))
add(case("line_long_garbage_closes",
         "x" * 2100, close=True))

# =============================================================================================
# §2 Keys
# =============================================================================================
K250 = "k" * 249 + "a"
K251 = "k" * 250 + "b"
add(case("key_250_ok",
         st(K250, "v250"), "get " + K250 + "\r\n", "delete " + K250 + "\r\n",
         "get " + K250 + "\r\n"))
add(case("key_251_set_not_swallowed",
         st(K251, "v251"), "get " + K251 + "\r\n",
         doc="CLIENT_ERROR before the data block, which is then parsed as a command -> ERROR"))
add(case("key_251_other_commands",
         "delete " + K251 + "\r\n", "incr " + K251 + " 1\r\n", "decr " + K251 + " 1\r\n",
         "touch " + K251 + " 10\r\n", "gets " + K251 + "\r\n", "gat 10 " + K251 + "\r\n",
         "gats 10 " + K251 + "\r\n", "bget " + K251 + "\r\n",
         "cas " + K251 + " 0 0 1 1\r\nx\r\n", "add " + K251 + " 0 0 1\r\nx\r\n"))
add(case("key_251_in_multiget",
         st("klm1", "one"), st("klm2", "two"),
         "get klm1 " + K251 + " klm2\r\n", "get " + K251 + " klm1\r\n",
         "get klm1 klm2 " + K251 + "\r\n", "gets klm1 " + K251 + "\r\n", "get klm1\r\n",
         doc="the whole reply is only CLIENT_ERROR, hits already found are discarded"))
add(case("key_251_noreply",
         "set " + K251 + " 0 0 1 noreply\r\nx\r\n", "delete " + K251 + " noreply\r\n",
         "version\r\n"))
add(case("key_control_bytes",
         st("kcb\t1", "tab"), st("kcb\x012", "soh"), st("kcb\x7f3", "del"),
         "get kcb\t1 kcb\x012 kcb\x7f3\r\n", "delete kcb\t1\r\n", "get kcb\t1\r\n"))
add(case("key_high_bytes",
         st("khb\xff\xfe1", "x"), st("\x80khb2", "y"), "get khb\xff\xfe1 \x80khb2\r\n",
         "incr \x80khb2 1\r\n"))
add(case("key_cr_inside",
         st("kcr\r1", "x"), "get kcr\r1\r\n"))

# =============================================================================================
# §3 Numeric fields
# =============================================================================================
add(case("num_flags_max",
         st("nfm1", "x", flags=4294967295), "get nfm1\r\n", "gets nfm1\r\n"))
add(case("num_flags_negative",
         "set nfn1 0 0 1\r\nx\r\n", "set nfn1 -1 0 1\r\ny\r\n", "get nfn1\r\n",
         doc="-1 -> CLIENT_ERROR bad command line format, data block not swallowed"))
add(case("num_flags_2_pow_32",
         "set nfp1 4294967296 0 1\r\nx\r\n", "get nfp1\r\n",
         "set nfp2 4294967297 0 1\r\ny\r\n", "get nfp2\r\n",
         doc="1.6.18 quirk: flags >= 2^32 are silently truncated"))
add(case("num_flags_plus_and_garbage",
         "set nfg1 +5 0 1\r\nx\r\n", "get nfg1\r\n", "set nfg2 5abc 0 1\r\ny\r\n",
         "get nfg2\r\n", "set nfg3 0x10 0 1\r\nz\r\n", "set nfg4 '' 0 1\r\nz\r\n"))
add(case("num_flags_huge",
         "set nfh1 99999999999999999999999 0 1\r\nx\r\n", "get nfh1\r\n"))
add(case("num_bytes_negative",
         "set nbn1 0 0 -1\r\nx\r\n", "get nbn1\r\n", "set nbn2 0 0 -0\r\n\r\n", "get nbn2\r\n"))
add(case("num_bytes_plus",
         "set nbp1 0 0 +1\r\nx\r\n", "get nbp1\r\n"))
add(case("num_bytes_zero",
         "set nbz1 0 0 0\r\n\r\n", "get nbz1\r\n", "append nbz1 0 0 0\r\n\r\n", "get nbz1\r\n"))
add(case("num_bytes_huge",
         "set nbh1 0 0 4294967295\r\nx\r\n", "set nbh2 0 0 99999999999999999999\r\nx\r\n",
         "set nbh3 0 0 2147483648\r\nx\r\n", "get nbh1 nbh2 nbh3\r\n"))
add(case("num_bytes_wraps",
         "set nbw1 0 0 4294967297\r\nx\r\n", "get nbw1\r\n",
         doc="1.6.18 quirk: 4294967297 wraps to 1"))
add(case("num_bytes_garbage",
         "set nbg1 0 0 1x\r\nx\r\n", "set nbg2 0 0 abc\r\nx\r\n", "get nbg1 nbg2\r\n"))
add(case("num_exptime_garbage",
         "set neg1 0 abc 1\r\nx\r\n", "set neg2 0 1x 1\r\nx\r\n", "set neg3 0 +0 1\r\nx\r\n",
         "get neg1 neg2 neg3\r\n",
         "set neg4 0 99999999999 1\r\nx\r\n", "get neg4\r\n"))
add(case("num_cas_bad",
         st("ncb1", "x"), "cas ncb1 0 0 1 abc\r\ny\r\n", "cas ncb1 0 0 1 -1\r\ny\r\n",
         "cas ncb1 0 0 1 18446744073709551616\r\ny\r\n", "cas ncb1 0 0 1 1x\r\ny\r\n",
         "get ncb1\r\n"))
add(case("num_cas_max",
         st("ncm1", "x"), "cas ncm1 0 0 1 18446744073709551615\r\ny\r\n",
         "cas ncm1 0 0 1 +18446744073709551615\r\ny\r\n", "get ncm1\r\n"))
add(case("num_delta_bad",
         st("ndb1", "5"), "incr ndb1 abc\r\n", "incr ndb1 -1\r\n",
         "incr ndb1 18446744073709551616\r\n", "decr ndb1 1x\r\n", "incr ndb1 +1\r\n",
         "decr ndb1 \r\n", "get ndb1\r\n"))

# =============================================================================================
# §4 Expiration time
# =============================================================================================
add(case("exp_zero_never",
         cat(st("eze1", "x", exp=0), "mg eze1 t v\r\n")))
add(case("exp_negative_expired",
         st("eng1", "x", exp=-1), "get eng1\r\n", st("eng2", "y", exp=-1000), "get eng2\r\n",
         st("eng1", "z", cmd="add"), "get eng1\r\n",
         doc="STORED, then already gone; add succeeds over an expired item"))
add(case("exp_past_absolute",
         st("epa1", "x", exp=2592001), "get epa1\r\n", st("epa2", "x", exp=1000000000),
         "get epa2\r\n"))
add(case("exp_relative_max",
         cat(st("erm1", "x", exp=2592000), "mg erm1 t\r\n"), "get erm1\r\n"))
add(case("exp_absolute_future",
         lambda: cat(st("eaf1", "x", exp=int(time.time()) + 100), "mg eaf1 t v\r\n"),
         masks=((rb"\bt(98|99|100|101)\b", b"t~100"),),
         doc="now+100 absolute -> TTL about 100 (masked: depends on each server's start second)"))
add(case("exp_absolute_40_days",
         lambda: cat(st("ea40", "x", exp=int(time.time()) + 40 * 86400), "get ea40\r\n")))
add(case("exp_gat_negative_once",
         st("egn1", "x"), "gat -1 egn1\r\n", "get egn1\r\n",
         doc="gat -1 returns the value once, then it is gone"))
add(case("exp_touch_negative",
         st("etn1", "x"), "touch etn1 -1\r\n", "get etn1\r\n", "touch etn1 10\r\n"))
add(case("exp_replace_expired",
         st("ere1", "x", exp=-1), "replace ere1 0 0 1\r\ny\r\n", "append ere1 0 0 1\r\ny\r\n",
         "prepend ere1 0 0 1\r\ny\r\n", "incr ere1 1\r\n", "touch ere1 0\r\n",
         "delete ere1\r\n", "get ere1\r\n"))
add(case("exp_set_keeps_new_ttl",
         cat(st("esk1", "x", exp=1000), "mg esk1 t\r\n", st("esk1", "y"), "mg esk1 t\r\n",
             st("esk1", "z", exp=500), "mg esk1 t\r\n")))

# =============================================================================================
# §5 Commands
# =============================================================================================
# -- set / add / replace / append / prepend ---------------------------------------------------
add(case("cmd_set_basic",
         st("csb1", "hello", flags=42), "get csb1\r\n", st("csb1", "world!"), "get csb1\r\n"))
add(case("cmd_set_6th_token_ignored",
         "set csg1 0 0 1 garbage\r\nx\r\n", "set csg2 0 0 1 NOREPLY\r\ny\r\n",
         "get csg1 csg2\r\n"))
add(case("cmd_set_token_count",
         "set\r\n", "set csc1\r\n", "set csc1 0\r\n", "set csc1 0 0\r\n", "get csc1\r\n"))
add(case("cmd_add",
         st("cad1", "one", cmd="add"), st("cad1", "two", cmd="add"), "get cad1\r\n",
         "add cad1 0 0 1 noreply\r\nz\r\n", "get cad1\r\n"))
add(case("cmd_replace",
         st("crp1", "one", cmd="replace"), "get crp1\r\n", st("crp1", "base"),
         st("crp1", "two", flags=7, cmd="replace"), "get crp1\r\n"))
add(case("cmd_append_prepend",
         st("cap1", "mid", cmd="append"), st("cap1", "mid", cmd="prepend"), "get cap1\r\n",
         st("cap1", "mid", flags=5), st("cap1", ">>", flags=9, exp=-1, cmd="append"),
         st("cap1", "<<", flags=11, exp=-1, cmd="prepend"), "get cap1\r\n",
         doc="append/prepend ignore their flags and exptime"))
add(case("cmd_append_keeps_ttl",
         cat(st("cak1", "a", exp=1000), st("cak1", "b", exp=5, cmd="append"),
             "mg cak1 t v\r\n")))
add(case("cmd_append_cas_changes",
         st("cac1", "a"), "gets cac1\r\n", st("cac1", "b", cmd="append"), "gets cac1\r\n",
         st("cac1", "c", cmd="prepend"), "gets cac1\r\n"))
add(case("cmd_append_large",
         st("cal1", "x" * 100000), st("cal1", "y" * 100000, cmd="append"), "get cal1\r\n"))

# -- cas (literal CAS values: fresh pair) ----------------------------------------------------
add(case("cmd_cas_outcomes",
         st("cco1", "a"), "gets cco1\r\n",
         "cas cco1 0 0 1 1\r\nb\r\n", "gets cco1\r\n",
         "cas cco1 0 0 1 1\r\nc\r\n",
         "cas cco1 0 0 1 0\r\nc\r\n",
         "cas cco2 0 0 1 1\r\nd\r\n",
         "cas cco1 3 0 1 2 noreply\r\ne\r\n", "gets cco1\r\n",
         "cas cco1 0 0 1 2 noreply\r\nf\r\n", "gets cco1\r\n",
         fresh=True, doc="STORED, EXISTS (stale and 0), NOT_FOUND, noreply"))
add(case("cmd_cas_expired",
         st("cce1", "a", exp=-1), "cas cce1 0 0 1 1\r\nb\r\n", fresh=True))
add(case("cmd_cas_token_count",
         "cas ccc1 0 0 1\r\nx\r\n", "cas\r\n", "cas ccc1 0 0 1 1 noreply x\r\ny\r\n",
         fresh=True))
add(case("cmd_cas_ids_sequence",
         st("cci1", "a"), st("cci2", "b"), st("cci1", "c"), "incr cci2 1\r\n",
         "set cci3 0 0 1\r\n1\r\n", "incr cci3 1\r\n", "touch cci1 100\r\n",
         "gat 100 cci1\r\n", "gets cci1 cci2 cci3\r\n", "delete cci1\r\n",
         st("cci1", "d", cmd="add"), "gets cci1\r\n", fresh=True,
         doc="which commands take a new CAS id (§5.7), exact values on a fresh pair"))

# -- get / gets / bget / gat / gats ----------------------------------------------------------
add(case("cmd_get_no_key",
         "get\r\n", "gets\r\n", "bget\r\n", "gat\r\n", "gats\r\n", "get \r\n"))
add(case("cmd_get_duplicates_and_misses",
         st("cgd1", "one"), "get cgd1 cgd1 cgdx cgd1\r\n", "gets cgdx\r\n", "get cgdx\r\n"))
add(case("cmd_get_noreply_is_a_key",
         st("noreply", "trap"), "get noreply\r\n", "get cgn1 noreply\r\n",
         "delete noreply\r\n", fresh=True))
add(case("cmd_bget",
         st("cbg1", "x", flags=2), "bget cbg1 cbgx\r\n", "bget cbgx\r\n"))
add(case("cmd_gets_shows_cas",
         st("cgs1", "x"), st("cgs2", "yy"), "gets cgs1 cgs2 cgs1\r\n", fresh=True))
add(case("cmd_gat",
         cat(st("cgt1", "x", flags=3), st("cgt2", "y"), "gat 100 cgt1 cgt2 cgtx\r\n",
             "mg cgt1 t\r\n"), "gat 100\r\n", "gat abc cgt1\r\n", "gat 1x cgt1\r\n",
         "gat  cgt1\r\n"))
add(case("cmd_gats",
         st("cgu1", "x"), "gets cgu1\r\n", "gats 100 cgu1 cgux\r\n", "gets cgu1\r\n",
         "gats 100\r\n", "gats x cgu1\r\n", fresh=True,
         doc="gats returns the CAS and does not change it"))
add(case("cmd_gat_zero_clears_ttl",
         cat(st("cgz1", "x", exp=1000), "gat 0 cgz1\r\n", "mg cgz1 t\r\n")))

# -- touch ---------------------------------------------------------------------------------
add(case("cmd_touch",
         cat(st("ctc1", "x"), "touch ctc1 100\r\n", "mg ctc1 t\r\n"),
         "touch ctcx 100\r\n", "touch ctc1 abc\r\n", "touch ctc1\r\n", "touch\r\n",
         "touch ctc1 10 garbage\r\n", "touch ctc1 10 noreply\r\n",
         "touch ctc1 abc noreply\r\n", "touch ctcx 10 noreply\r\n", "touch ctc1 0 0 0\r\n",
         "get ctc1\r\n"))

# -- delete --------------------------------------------------------------------------------
add(case("cmd_delete",
         st("cdl1", "x"), "delete cdl1\r\n", "delete cdl1\r\n", st("cdl1", "x"),
         "delete cdl1 0\r\n", st("cdl1", "x"), "delete cdl1 noreply\r\n",
         st("cdl1", "x"), "delete cdl1 0 noreply\r\n", "get cdl1\r\n",
         "delete cdlx noreply\r\n", "version\r\n"))
add(case("cmd_delete_bad_args",
         st("cdb1", "x"), "delete cdb1 10\r\n", "delete cdb1 10 noreply\r\n",
         "delete cdb1 0 garbage\r\n", "delete cdb1 noreply 0\r\n", "delete\r\n",
         "delete cdb1 0 noreply x\r\n", "delete cdb1 00\r\n", "delete cdb1 -0\r\n",
         "get cdb1\r\n",
         doc="'delete k 10' -> CLIENT_ERROR bad command line format.  Usage: delete <key> "
             "[noreply]"))

# -- incr / decr ---------------------------------------------------------------------------
add(case("cmd_incr_decr_basic",
         st("cid1", "10", flags=5, exp=0), "incr cid1 5\r\n", "decr cid1 3\r\n",
         "get cid1\r\n", "incr cidx 1\r\n", "decr cidx 1\r\n", "incr cid1 0\r\n",
         "incr cid1 1 noreply\r\n", "get cid1\r\n", "incr cid1\r\n", "incr\r\n",
         "incr cid1 1 garbage\r\n"))
add(case("cmd_decr_floor",
         st("cdf1", "5"), "decr cdf1 10\r\n", "get cdf1\r\n",
         st("cdf2", "18446744073709551615"), "decr cdf2 18446744073709551615\r\n",
         "get cdf2\r\n"))
add(case("cmd_incr_wrap",
         st("ciw1", "18446744073709551615"), "incr ciw1 1\r\n", "get ciw1\r\n",
         st("ciw2", "18446744073709551610"), "incr ciw2 18446744073709551615\r\n",
         "get ciw2\r\n"))
add(case("cmd_incr_padding",
         st("cip1", "100"), "decr cip1 1\r\n", "get cip1\r\n",
         st("cip2", "0001"), "incr cip2 1\r\n", "get cip2\r\n",
         st("cip3", "99"), "incr cip3 1\r\n", "get cip3\r\n",
         st("cip4", "9 "), "incr cip4 1\r\n", "get cip4\r\n",
         doc="in-place results are right-padded with spaces to the old length"))
add(case("cmd_incr_leading_trailing_spaces",
         st("cil1", "  5"), "incr cil1 1\r\n", "get cil1\r\n",
         st("cil2", "5  "), "incr cil2 1\r\n", "get cil2\r\n",
         st("cil3", " "), "incr cil3 1\r\n"))
add(case("cmd_incr_non_numeric",
         st("cin1", ""), "incr cin1 1\r\n", st("cin2", "-5"), "incr cin2 1\r\n",
         st("cin3", "12a"), "incr cin3 1\r\n", st("cin4", "18446744073709551616"),
         "decr cin4 1\r\n", st("cin5", "abc"), "decr cin5 1 noreply\r\n",
         st("cin6", "1.5"), "incr cin6 1\r\n", st("cin7", "+5"), "incr cin7 1\r\n",
         st("cin8", "5\r\n"), "incr cin8 1\r\n", "version\r\n"))
add(case("cmd_incr_keeps_flags_ttl",
         cat(st("cik1", "7", flags=99, exp=1000), "incr cik1 100\r\n", "mg cik1 f t v\r\n")))
add(case("cmd_incr_new_length_and_cas",
         st("cnl1", "99"), "gets cnl1\r\n", "incr cnl1 1\r\n", "gets cnl1\r\n",
         "decr cnl1 1\r\n", "gets cnl1\r\n", fresh=True))
add(case("cmd_incr_delta_max",
         st("cdm1", "0"), "incr cdm1 18446744073709551615\r\n", "incr cdm1 1\r\n",
         "decr cdm1 18446744073709551615\r\n"))
add(case("cmd_incr_wrap_20_digits",
         st("ciz1", "18446744073709551615"), "incr ciz1 2\r\n", "get ciz1\r\n"))

# -- flush_all (fresh: global effect) --------------------------------------------------------
add(case("cmd_flush_all",
         st("cfa1", "x"), st("cfa2", "y"), "flush_all\r\n", "get cfa1 cfa2\r\n",
         cat(st("cfa1", "z"), "get cfa1\r\n"), fresh=True,
         doc="items stored before the flush are gone, items stored after (same second) stay"))
add(case("cmd_flush_all_variants",
         st("cfv1", "x"), "flush_all 0\r\n", "get cfv1\r\n", st("cfv1", "x"),
         "flush_all noreply\r\n", "get cfv1\r\n", st("cfv1", "x"), "flush_all 0 noreply\r\n",
         "get cfv1\r\n", st("cfv1", "x"), "flush_all -1\r\n", "get cfv1\r\n",
         fresh=True))
add(case("cmd_flush_all_errors",
         st("cfe1", "x"), "flush_all abc\r\n", "flush_all 1x\r\n", "flush_all abc noreply\r\n",
         "flush_all 1 2 3\r\n", "flush_all 0 noreply x\r\n", "get cfe1\r\n", fresh=True))
add(case("cmd_flush_all_delayed",
         st("cfd1", "x"), "flush_all 100\r\n", "get cfd1\r\n", "flush_all 1000 2\r\n",
         "get cfd1\r\n", "flush_all 200 noreply\r\n", "get cfd1\r\n", fresh=True,
         doc="a delayed flush changes nothing until its time"))
add(case("cmd_flush_all_then_add_replace",
         st("cfr1", "x"), st("cfr2", "y"), "flush_all\r\n", st("cfr1", "a", cmd="add"),
         st("cfr2", "b", cmd="replace"), "incr cfr1 1\r\n", "get cfr1 cfr2\r\n", fresh=True))
add(case("cmd_flush_all_cas",
         st("cfc1", "x"), "flush_all\r\n", st("cfc1", "y"), "gets cfc1\r\n", fresh=True,
         doc="an immediate flush_all consumes one CAS id"))
add(case("cmd_flush_all_disabled",
         st("cfx1", "x"), "flush_all\r\n", "flush_all noreply\r\n", "flush_all 10\r\n",
         "get cfx1\r\n", "stats\r\n", flags=["-F"], stats=["cmd_flush"]))

# -- version / verbosity / quit ----------------------------------------------------------------
add(case("cmd_version",
         "version\r\n", "version extra tokens here\r\n"))
add(case("cmd_verbosity",
         "verbosity 1\r\n", "verbosity 0\r\n", "verbosity\r\n", "verbosity abc\r\n",
         "verbosity 1 noreply\r\n", "verbosity 5\r\n", "verbosity 0 garbage\r\n",
         "verbosity 1 2 3\r\n", "verbosity -1\r\n", "verbosity abc noreply\r\n",
         "verbosity 0\r\n", fresh=True))
add(case("cmd_quit",
         st("cqt1", "x"), "quit\r\nget cqt1\r\n", close=True,
         doc="quit closes without a reply; later pipelined commands are not run"))
add(case("cmd_quit_extra_tokens",
         "quit now please\r\n", "version\r\n", close=True))
add(case("cmd_quit_pipelined",
         cat(st("cqp1", "x"), "get cqp1\r\nquit\r\nget cqp1\r\n"), close=True))

# -- shutdown -----------------------------------------------------------------------------------
add(case("cmd_shutdown_disabled",
         "shutdown\r\n", "shutdown graceful\r\n", "shutdown foo\r\n", "shutdown a b\r\n",
         "version\r\n", fresh=True))
add(case("cmd_shutdown_enabled",
         "shutdown foo\r\n", "version\r\n", "shutdown\r\n", flags=["-A"], close=True,
         stops_server=True))
add(case("cmd_shutdown_graceful",
         "shutdown graceful\r\n", flags=["-A"], close=True, stops_server=True))

# -- stats subcommands ---------------------------------------------------------------------------
add(case("cmd_stats_unknown",
         "stats foo\r\n", "stats items_x\r\n", "stats  \r\n", fresh=True,
         stats=["curr_items"]))
add(case("cmd_stats_reset",
         st("csr1", "x"), "get csr1 csrx\r\n", "stats reset\r\n", "stats\r\n",
         "stats reset extra\r\n",
         stats=["cmd_get", "get_hits", "get_misses", "cmd_set", "curr_items", "total_items",
                "bytes"]))
add(case("cmd_stats_detail",
         st("a:1", "x"), "get a:1 b:2\r\n", "stats detail on\r\n",
         st("a:1", "x"), "get a:1 b:2\r\n", "delete b:2\r\n", "stats detail dump\r\n",
         "stats detail off\r\n", "stats detail foo\r\n", "stats detail\r\n", fresh=True))
add(case("cmd_stats_cachedump",
         st("scd1", "hello"), st("scd2", "x" * 200),
         "stats cachedump 1 0\r\n", "stats cachedump 2 1\r\n", "stats cachedump\r\n",
         "stats cachedump 1\r\n", "stats cachedump a b\r\n", "stats cachedump 99 0\r\n",
         fresh=True))
add(case("cmd_stats_sizes",
         "stats sizes\r\n", stats=["sizes_status"]))
add(case("cmd_stats_settings",
         "stats settings\r\n",
         stats=["maxbytes", "maxconns", "udpport", "evictions", "cas_enabled", "item_size_max",
                "flush_enabled", "shutdown_command", "growth_factor", "chunk_size",
                "num_threads", "binding_protocol"]))
add(case("cmd_stats_settings_flags",
         "stats settings\r\n", flags=["-M", "-C", "-F", "-A", "-I", "2m", "-m", "128", "-c", "100",
                                      "-f", "1.5", "-n", "64"],
         stats=["maxbytes", "maxconns", "evictions", "cas_enabled", "item_size_max",
                "flush_enabled", "shutdown_command", "growth_factor", "chunk_size"]))
add(case("cmd_cache_memlimit",
         "cache_memlimit 100\r\n", "cache_memlimit 7\r\n", "cache_memlimit abc\r\n",
         "cache_memlimit 2000000000\r\n", "cache_memlimit 8 noreply\r\n", "cache_memlimit\r\n",
         "stats settings\r\n", "stats\r\n", fresh=True, stats=["maxbytes", "limit_maxbytes"]))

add(case("cmd_stats_sizes_toggle",
         "stats sizes_enable\r\n", st("sst1", "0123456789"), st("sst2", "x" * 100),
         "stats sizes\r\n", "stats sizes_disable\r\n", "stats sizes\r\n",
         stats=["sizes_status", "[0-9]*"],
         doc="sizes_enable/_disable answer one STAT line and no END (1.6.18 quirk)"))
add(case("cmd_stats_items_slabs",
         st("ssi1", "x"), st("ssi2", "y" * 50, flags=1), st("ssi3", "z" * 500),
         st("ssi4", "w" * 5000), st("ssi5", "v" * 100000), "delete ssi2\r\n",
         "get ssi1 ssi3\r\n", "stats items\r\n", "stats slabs\r\n", "stats items extra\r\n",
         "stats slabs x y\r\n", "stats\r\n",
         stats=["items:*:number", "items:*:mem_requested", "items:*:evicted",
                "items:*:outofmemory", "items:*:reclaimed", "items:*:expired_unfetched",
                "*:chunk_size", "*:chunks_per_page", "*:total_pages", "*:total_chunks",
                "*:used_chunks", "*:free_chunks", "*:free_chunks_end", "*:get_hits",
                "*:cmd_set", "*:delete_hits", "active_slabs", "total_malloced", "bytes",
                "curr_items", "total_items"],
         doc="per-class accounting: item sizes, classes, pages, chunks (slabs.md)"))
add(case("cmd_stats_counters_get_touch",
         st("sct1", "x"), "get sct1 sctx sct1\r\n", "gets sct1\r\n", "bget sct1\r\n",
         "gat 100 sct1 sctx\r\n", "gats 100 sct1\r\n", "touch sct1 10\r\n",
         "touch sctx 10\r\n", "incr sctx 1\r\n", "decr sctx 1\r\n", "stats\r\n",
         stats=["cmd_get", "get_hits", "get_misses", "cmd_touch", "touch_hits", "touch_misses",
                "incr_misses", "decr_misses", "cmd_set", "curr_items", "total_items", "bytes",
                "get_expired", "get_flushed"],
         doc="gat/gats count as touches, not gets"))
add(case("cmd_stats_counters_store",
         st("scs1", "1"), st("scs1", "2", cmd="add"), st("scs2", "3", cmd="replace"),
         st("scs1", "4", cmd="append"), st("scs3", "5", cmd="prepend"),
         "cas scs1 0 0 1 999\r\nx\r\n", "cas scsx 0 0 1 1\r\nx\r\n", "gets scs1\r\n",
         "cas scs1 0 0 1 5\r\ny\r\n", "incr scs1 1\r\n", "decr scs1 1\r\n",
         "delete scs1\r\n", "delete scs1\r\n", "stats\r\n",
         stats=["cmd_set", "cas_misses", "cas_hits", "cas_badval", "incr_hits", "decr_hits",
                "delete_hits", "delete_misses", "curr_items", "total_items", "bytes"]))
add(case("cmd_stats_expired_flushed",
         st("sef1", "x", exp=-1), st("sef2", "y"), st("sef3", "z"), "get sef1\r\n",
         "stats\r\n", "flush_all\r\n", "get sef2\r\n", "gets sef3\r\n", "stats\r\n",
         stats=["get_expired", "get_flushed", "get_misses", "get_hits", "cmd_flush",
                "curr_items", "total_items"]))
add(case("cmd_cas_disabled",
         st("cdc1", "a"), "gets cdc1\r\n", "cas cdc1 0 0 1 0\r\nb\r\n",
         "cas cdc1 0 0 1 1\r\nb\r\n", "cas cdcx 0 0 1 1\r\nb\r\n", "mg cdc1 c v\r\n",
         "me cdc1\r\n", "gats 0 cdc1\r\n", "stats\r\n", flags=["-C"],
         masks=[(rb"la=\d+", b"la=<t>")],
         stats=["cas_misses", "cas_hits", "cas_badval", "bytes"],
         doc="-C: gets shows 0, cas on an existing key is always EXISTS, items 8 bytes smaller"))
add(case("slab_classes_growth_factor",
         *[st(f"scg{n}", "x" * n) for n in (1, 60, 100, 200, 400, 800, 1600, 3200, 6400,
                                               12800, 25600, 51200, 102400, 204800, 409600,
                                               900000)],
         "stats slabs\r\n", "stats items\r\n", flags=["-f", "1.5", "-n", "64"],
         stats=["*:chunk_size", "*:chunks_per_page", "*:total_pages", "*:used_chunks",
                "items:*:number", "items:*:mem_requested", "active_slabs", "total_malloced"]))
add(case("slab_classes_default_boundaries",
         "set sdb1 0 0 34\r\n" + "a" * 34 + "\r\n", "set sdb2 0 0 34\r\n" + "a" * 34 + "\r\n",
         "set sdb3 1 0 29\r\n" + "a" * 29 + "\r\n", "set sdb4 1 0 30\r\n" + "a" * 30 + "\r\n",
         "set " + "k" * 250 + " 0 0 0\r\n\r\n", "set sdb5 0 0 524000\r\n" + "b" * 524000 + "\r\n",
         "stats items\r\n", "stats slabs\r\n",
         stats=["items:*:number", "items:*:mem_requested", "*:chunk_size", "*:used_chunks",
                "*:total_pages", "total_malloced"],
         doc="ntotal = 48 + 8 + key+1 + (flags? 4) + data+2 picks the class (slabs.md §1)"))

# -- optional admin commands (protocol.md §5, "optional") ---------------------------------------
add(case("opt_slabs_automove_reassign",
         "slabs automove 0\r\n", "slabs automove 1\r\n", "slabs automove 2\r\n",
         "slabs automove 3\r\n", "slabs automove x\r\n", "slabs automove 1 noreply\r\n",
         "slabs reassign 1 2\r\n", "slabs reassign a b\r\n", "slabs foo\r\n", "slabs\r\n",
         "version\r\n", fresh=True))
# -- the page mover (-o slab_reassign on both; modern.md §2) -------------------------------------
add(case("slabs_reassign_replies",
         "slabs reassign 1 2\r\n", "slabs reassign 1 1\r\n", "slabs reassign -1 0\r\n",
         "slabs reassign 70 1\r\n", "slabs reassign 1 -2\r\n", "slabs reassign x 1\r\n",
         "slabs reassign 1 2 noreply\r\n", "slabs reassign 0 1\r\n", "slabs reassign 1\r\n",
         "slabs automove ratio\r\n", "slabs automove ratio 0.5\r\n",
         "slabs automove ratio x\r\n", "slabs automove -1\r\n", "slabs automove 3\r\n",
         "slabs automove 2 noreply\r\n", "slabs automove\r\n", "stats settings\r\n",
         "stats\r\n", flags=["-o", "slab_reassign"],
         stats=["slab_reassign*", "slab_automove", "slab_automove_ratio", "slab_automove_window",
                "slabs_moved", "slab_global_page_pool"],
         doc="every reply of process_slabs_command, and the live automove settings"))


def _after_the_move() -> bytes:
    time.sleep(1.5)             # the move runs in the background on both servers
    return b"stats\r\n"


add(case("slabs_reassign_move_counters",
         b"".join(b"set srm%05d 0 0 100 noreply\r\n%s\r\n" % (i, b"%100d" % i)
                  for i in range(12000)),
         b"".join(b"delete srm%05d noreply\r\n" % i for i in range(0, 12000, 2)),
         "stats slabs\r\n", "slabs reassign 4 0\r\n", _after_the_move,
         "get srm00001 srm05461 srm11999\r\n", "stats slabs\r\n",
         st("srmbig", "b" * 5000), "stats\r\n", flags=["-o", "slab_reassign", "-m", "8"],
         stats=["slab_reassign*", "slabs_moved", "slab_global_page_pool", "curr_items",
                "evictions", "4:total_pages", "4:used_chunks", "4:free_chunks",
                "total_malloced", "active_slabs"],
         doc="one page of class 4 to the global pool: the live half rescued, then taken "
             "back by a new class"))
add(case("opt_lru_crawler",
         "lru_crawler crawl all\r\n", "lru_crawler metadump all\r\n", "lru_crawler foo\r\n",
         "lru_crawler sleep 100\r\n", "lru_crawler tocrawl 10\r\n", "lru_crawler\r\n",
         "version\r\n", fresh=True, doc="no_modern: the crawler is disabled"))
add(case("opt_lru_watch",
         "watch foo\r\n", "lru mode flat\r\n", "lru foo\r\n", "lru tune 10 20 0.1 2\r\n",
         "lru temp_ttl 10\r\n", "lru\r\n", "version\r\n", fresh=True))

# =============================================================================================
# §5.1 storage outcomes
# =============================================================================================
BIG = 1048516   # the largest value with key "x"-sized (1 byte) keys and flags 0
add(case("store_max_size_ok",
         st("t", "a" * BIG), "get t\r\n", fresh=True, doc="key 't', flags 0: 1048516 fits"))
add(case("store_too_large_deletes_old",
         st("u", "old"), st("u", "b" * (BIG + 1)), "get u\r\n", fresh=True,
         doc="SERVER_ERROR object too large for cache, block swallowed, old value deleted"))
add(case("store_too_large_flags",
         st("w", "a" * (BIG - 4), flags=1), st("w", "a" * (BIG - 3), flags=1), "get w\r\n",
         fresh=True, doc="non-zero flags cost 4 bytes"))
add(case("store_too_large_add_replace_append",
         st("y", "old"), st("y", "c" * (BIG + 10), cmd="add"),
         st("y", "c" * (BIG + 10), cmd="replace"), "get y\r\n",
         st("y", "c" * (BIG + 10), cmd="append"), "get y\r\n",
         st("y", "c" * (BIG + 10), cmd="cas", extra="1"), "get y\r\n", fresh=True))
add(case("store_too_large_noreply",
         st("z", "old"), st("z", "d" * (BIG + 1), extra="noreply"), "get z\r\n", fresh=True))
add(case("store_too_large_fragmented",
         "set v 0 0 2000000\r\n", "e" * 1000000, "e" * 1000000, "\r\n", "get v\r\n",
         fresh=True, doc="the error is sent only after the whole block has been swallowed"))
add(case("store_too_large_huge_declared",
         "set hh 0 0 2147483645\r\n", "abc\r\n", fresh=True,
         doc="a 2 GB declared block: the server keeps swallowing, nothing comes back"))
add(case("store_too_large_stats",
         st("q", "a" * (BIG + 1)), st("q", "ok"), "stats\r\n",
         stats=["store_too_large", "cmd_set", "curr_items", "total_items"]))
add(case("store_item_size_max_2m",
         st("p", "f" * 1500000), "get p\r\n", st("p", "g" * 2100000), "get p\r\n",
         flags=["-I", "2m"]))
add(case("store_bad_chunk_stats",
         "set sbc1 0 0 1\r\nabc\r\n", "set sbc1 0 0 1 noreply\r\nabc\r\n", "get sbc1\r\n",
         "stats\r\n", stats=["cmd_set", "curr_items", "total_items"],
         doc="a bad data chunk still counts cmd_set; noreply hides the error"))

_OOM_VALUE = "o" * 300000
add(case("store_out_of_memory_M",
         *[st(f"som{i}", _OOM_VALUE) for i in range(12)],
         st("som0", "small"), "get som0\r\n",
         "get " + " ".join(f"som{i}" for i in range(12)) + "\r\n",
         "stats\r\n", "stats items\r\n", "stats slabs\r\n",
         flags=["-M", "-m", "2"],
         stats=["store_no_memory", "evictions", "curr_items", "total_items", "bytes",
                "cmd_set", "items:*:number", "items:*:outofmemory", "items:*:evicted",
                "*:total_pages", "*:used_chunks", "*:free_chunks", "*:chunk_size",
                "active_slabs", "total_malloced"],
         doc="-M: SERVER_ERROR out of memory storing object; the old value of a failed set "
             "is deleted"))
add(case("store_out_of_memory_M_existing",
         *[st(f"sox{i}", _OOM_VALUE) for i in range(12)],
         st("sox0", _OOM_VALUE), "get sox0\r\n", "stats\r\n",
         flags=["-M", "-m", "2"], stats=["store_no_memory", "curr_items"]))
add(case("store_evictions",
         *[st(f"sev{i}", _OOM_VALUE) for i in range(12)],
         "get " + " ".join(f"sev{i}" for i in range(12)) + "\r\n",
         "stats\r\n", "stats items\r\n",
         flags=["-m", "2"],
         stats=["evictions", "curr_items", "total_items", "bytes", "items:*:number",
                "items:*:evicted", "items:*:evicted_unfetched", "items:*:evicted_nonzero",
                "items:*:outofmemory"],
         doc="without -M the oldest items of the class are evicted"))
add(case("store_evictions_reads_dont_protect",
         *[cat(st(f"sep{i}", _OOM_VALUE), "mg sep0 s\r\n") for i in range(12)],
         "mg sep0 s\r\nmg sep1 s\r\nmg sep6 s\r\nmg sep11 s\r\n", "stats\r\n",
         flags=["-m", "2"], stats=["evictions", "curr_items", "get_hits"],
         doc="flat LRU: a hit bumps an item at most once per 60 s, so reading sep0 between "
             "sets does not save it (slabs.md §4)"))
add(case("store_evictions_small_items",
         *[cat(*[st(f"ses{j:05d}", "s" * 900, extra="noreply") for j in range(i, i + 200)])
           for i in range(0, 3000, 200)],
         "stats\r\n", "stats items\r\n", "stats slabs\r\n",
         "get ses00000 ses00001 ses02999\r\n",
         flags=["-m", "2"],
         stats=["evictions", "curr_items", "total_items", "bytes", "items:*:number",
                "items:*:evicted", "*:total_pages", "*:used_chunks", "*:chunk_size",
                "total_malloced", "active_slabs"]))

# =============================================================================================
# §5.3 noreply
# =============================================================================================
add(case("noreply_storage",
         "set nrs1 0 0 1 noreply\r\na\r\n", "add nrs1 0 0 1 noreply\r\nb\r\n",
         "add nrs2 0 0 1 noreply\r\nc\r\n", "replace nrs1 0 0 1 noreply\r\nd\r\n",
         "replace nrsx 0 0 1 noreply\r\nd\r\n", "append nrs1 0 0 1 noreply\r\ne\r\n",
         "prepend nrs1 0 0 1 noreply\r\nf\r\n", "append nrsx 0 0 1 noreply\r\ne\r\n",
         "get nrs1 nrs2 nrsx\r\n"))
add(case("noreply_other",
         st("nro1", "5"), "incr nro1 5 noreply\r\n", "decr nro1 2 noreply\r\n",
         "incr nrox 1 noreply\r\n", "touch nro1 100 noreply\r\n", "get nro1\r\n",
         "delete nro1 noreply\r\n", "get nro1\r\n"))
add(case("noreply_suppresses_errors",
         st("nre1", "abc"), "incr nre1 1 noreply\r\n", "incr nre1 abc noreply\r\n",
         "touch nre1 abc noreply\r\n", "delete nre1 10 noreply\r\n",
         "set nre2 0 0 1 noreply\r\nabc\r\n", "set nre3 0 0 abc noreply\r\na\r\n",
         "set nre4 -1 0 1 noreply\r\nb\r\n", "get nre1\r\n",
         doc="errors are suppressed too; an unswallowed data line still yields ERROR"))
add(case("noreply_case_sensitive",
         "set nrc1 0 0 1 NOREPLY\r\nx\r\n", "delete nrc1 NOREPLY\r\n",
         "set nrc1 0 0 1 Noreply\r\nx\r\n", "incr nrc1 1 noreplyx\r\n"))
add(case("noreply_wrong_token_count",
         "set nrw1 noreply\r\n", "incr nrw1 noreply\r\n", "touch nrw1 noreply\r\n",
         "delete noreply\r\n", "get nrw1\r\n", fresh=True))
add(case("noreply_get_not_recognised",
         st("nrg1", "x"), "get nrg1 noreply\r\n", "gets nrg1 noreply\r\n",
         "gat 0 nrg1 noreply\r\n"))
add(case("noreply_flush_verbosity",
         st("nrf1", "x"), "verbosity 0 noreply\r\n", "flush_all noreply\r\n", "get nrf1\r\n",
         fresh=True))

# =============================================================================================
# §6 errors and connection-level behaviour
# =============================================================================================
add(case("err_http_get_closes",
         "GET / HTTP/1.0\r\n", "get x\r\n", close=True))
add(case("err_http_unknown_command_closes",
         "version\r\n", "foo x HTTP/1.1\r\n", "version\r\n", close=True,
         doc="an unknown command whose last token starts with HTTP/ closes silently"))
add(case("err_http_bare_version_closes",
         "HTTP/1.0\r\n", close=True))
add(case("err_http_known_command_not_closed",
         st("ehk1", "x"), "get ehk1 HTTP/1.1\r\n", "touch HTTP/1.0\r\n",
         "verbosity HTTP/1.0\r\n", "incr ehk1 HTTP/1.0\r\n", "stats foo HTTP/1.0\r\n",
         "mx HTTP/1.0\r\n", "shutdown HTTP/1.0\r\n", "foo http/1.1\r\n", "GET /\r\n",
         doc="only an unknown command name triggers the HTTP close; known ones answer as usual"))
add(case("err_http_post_closes",
         "POST /foo HTTP/1.1\r\nHost: x\r\n\r\n", close=True))
add(case("err_http_not_last_token",
         "GET / HTTP/1.0 x\r\n", "version\r\n"))
add(case("err_client_errors_keep_connection",
         "set ece1 -1 0 1\r\nx\r\n", "incr ece1 abc\r\n", "touch ece1 abc\r\n",
         "delete ece1 5\r\n", "verbosity abc\r\n", "gat abc ece1\r\n", "version\r\n"))

BINARY_VERSION = bytes([0x80, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab,
                        0, 0, 0, 0, 0, 0, 0, 0])
BINARY_GET = bytes([0x80, 0x00, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0,
                    0, 0, 0, 0, 0, 0, 0, 0]) + b"foo"
add(case("binary_protocol_version", BINARY_VERSION,
         doc="first byte 0x80: memcached speaks binary (we close: expected difference)"))
add(case("binary_protocol_get", BINARY_GET))
add(case("binary_byte_later_is_text",
         "version\r\n", "\x80\r\n", "version\r\n",
         doc="only the first byte of a connection selects the protocol"))


def conn_limit_script(ep: Endpoint, expect: Reply | None) -> Reply:
    """Hold connections open until the server refuses one; report first and refused replies.

    memcached counts fds (it refuses a few connections below -c), a clone counts clients, so
    only the shape is compared: an early connection works, the refused one gets
    ``ERROR Too many open connections`` and is closed, and the earlier ones still work.
    """
    socks = []
    lines = []
    refused = None
    try:
        for i in range(40):
            s = connect(ep)
            socks.append(s)
            r = _drain(s, b"version\r\n")
            if r.closed:
                refused = r
                break
        first = _drain(socks[0], b"version\r\n")
        lines.append(b"first: " + first.data + b" closed=%d\n" % first.closed)
        if refused is None:
            lines.append(b"never refused within 40 connections\n")
        else:
            lines.append(b"refused: " + refused.data + b" closed=1\n")
        socks.pop().close()
        for s in socks:
            s.close()
        socks = []
        time_left = time.monotonic() + 2.0
        while True:  # the slot frees up once the server noticed the closes
            s = connect(ep)
            r = _drain(s, b"version\r\n")
            s.close()
            if not r.closed or time.monotonic() > time_left:
                break
            time.sleep(0.05)
        lines.append(b"after close: " + r.data + b" closed=%d\n" % r.closed)
    finally:
        for s in socks:
            s.close()
    return Reply(b"".join(lines), False)


def _drain(s, data: bytes, quiet: float = 0.15) -> Reply:
    import select as _select
    buf = bytearray()
    closed = False
    try:
        s.sendall(data)
    except OSError:
        pass
    end = time.monotonic() + quiet
    while not closed:
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = _select.select([s], [], [], left)
        if r:
            n = len(buf)
            closed = _recv_some(s, buf)
            if len(buf) != n:
                end = time.monotonic() + quiet
    return Reply(bytes(buf), closed)


add(Case(name="conn_too_many_connections", chunks=(), script=conn_limit_script,
         flags=("-c", "20", "-o", "maxconns_fast"),
         doc="-c 20 (maxconns_fast: no_modern turns it off): ERROR Too many open connections"))
