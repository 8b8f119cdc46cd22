"""Meta protocol corpus (spec/meta.md): mg ms md ma mn me, every flag, every error.

Same conventions as corpus_classic: shared-pair cases use their own key prefix (``m<tag>``),
``fresh=True`` for literal CAS values, counters and anything global.
"""

from __future__ import annotations

import base64

from .harness import Case, case

CASES: list[Case] = []


def add(c: Case) -> None:
    CASES.append(c)


def ms(key: str, value: str | bytes = "v", flags: str = "") -> bytes:
    if isinstance(value, str):
        value = value.encode("latin-1")
    head = f"ms {key} {len(value)}{(' ' + flags) if flags else ''}\r\n".encode("latin-1")
    return head + value + b"\r\n"


def cat(*parts: bytes | str) -> bytes:
    return b"".join(p.encode("latin-1") if isinstance(p, str) else p for p in parts)


def b64(s: bytes) -> str:
    return base64.b64encode(s).decode()


# =============================================================================================
# §1 common syntax
# =============================================================================================
add(case("meta_unknown_m_commands",
         "mx foo\r\n", "m\r\n", "mgg foo\r\n", "MG foo\r\n", "mz\r\n", "mn\r\n"))
add(case("meta_missing_key",
         "mg\r\n", "ms\r\n", "md\r\n", "ma\r\n", "me\r\n", "mg \r\n", "mn\r\n",
         doc="mg/ms/md/ma with no key -> ERROR; me -> CLIENT_ERROR"))
add(case("meta_ms_missing_datalen",
         "ms mmd1\r\n", "ms mmd1 T0\r\n", "ms mmd1 S2\r\nab\r\n", "mg mmd1 v\r\n",
         doc="datalen mandatory; old 'S2' syntax -> error and the data line -> ERROR"))
add(case("meta_key_too_long",
         "mg " + "k" * 251 + " v\r\n", "md " + "k" * 251 + "\r\n", "ma " + "k" * 251 + "\r\n",
         "me " + "k" * 251 + "\r\n", "ms " + "k" * 251 + " 1\r\nx\r\n",
         "mg " + "k" * 250 + " v\r\n", "mn\r\n"))
add(case("meta_key_too_long_base64",
         "mg " + "A" * 252 + " b v\r\n", "ms " + "A" * 252 + " 1 b\r\nx\r\n",
         "mg " + b64(b"k" * 187) + " b k v\r\n", "mn\r\n",
         doc="the 250-byte limit applies to the raw (encoded) token"))
add(case("meta_too_many_tokens",
         cat(ms("mtm1", "x"), "mg mtm1 v s f t c k h l O1 q u T10 N10 R10 P L\r\n"),
         "mg mtm1 " + " ".join(["v"] * 18) + "\r\n",
         "mg mtm1 " + " ".join(["O1"] * 17) + "\r\n",
         "md mtm1 " + " ".join(["q"] * 18) + "\r\n",
         "ma mtm1 " + " ".join(["v"] * 18) + "\r\n",
         "ms mtm1 1 " + " ".join(["T0"] * 17) + "\r\nx\r\n",
         "mn\r\n",
         doc="too many tokens: mg 'are too long', ms/md/ma 'too long'; ms does not swallow"))
add(case("meta_duplicate_flags",
         ms("mdf1", "x"), "mg mdf1 v v\r\n", "mg mdf1 T1 T2\r\n", "ms mdf1 1 T0 T0\r\ny\r\n",
         "md mdf1 q q\r\n", "ma mdf1 v v\r\n", "mg mdf1 v\r\n", "mn\r\n"))
add(case("meta_invalid_flags",
         ms("mif1", "1"), "mg mif1 v !\r\n", "mg mif1 E5\r\n", "mg mif1 Y\r\n",
         "ms mif1 1 E5\r\n2\r\n", "ms mif1 1 y\r\n3\r\n", "md mif1 x\r\n", "md mif1 !\r\n",
         "ma mif1 !\r\n", "mg mif1 v\r\n", "mn\r\n"))
add(case("meta_letters_ignored_where_meaningless",
         ms("mli1", "5"), "md mli1 v s f t\r\n", ms("mli1", "5"), "ma mli1 s f h l u\r\n",
         "ms mli1 1 v t h l u\r\n6\r\n", "mg mli1 v\r\n", "mn\r\n"))
add(case("meta_bad_numeric_tokens",
         ms("mbn1", "1"), "mg mbn1 Tabc\r\n", "mg mbn1 N1x\r\n", "mg mbn1 R-\r\n",
         "ms mbn1 1 Tx\r\n2\r\n", "ms mbn1 1 Fx\r\n2\r\n", "ms mbn1 1 F-1\r\n2\r\n",
         "ms mbn1 1 Cabc\r\n2\r\n", "md mbn1 Cabc\r\n", "ma mbn1 Dabc\r\n", "ma mbn1 Jx N0\r\n",
         "md mbn1 Tabc I\r\n", "mg mbn1 v\r\n", "mn\r\n"))
add(case("meta_flag_token_edge_cases",
         ms("mfe1", "1"), "mg mfe1 T\r\n", "mg mfe1 O\r\n", "mg mfe1 vv\r\n", "mg mfe1 ss\r\n",
         "mg mfe1 vk\r\n", "mn\r\n",
         doc="empty arguments and letters followed by junk"))
add(case("meta_errors_not_hidden_by_q",
         "mg mqe1 q v v\r\n", "md mqe1 q !\r\n", "ma mqe1 q !\r\n", "ms mqe1 1 q M?\r\nx\r\n",
         "mn\r\n"))
add(case("meta_P_L_ignored",
         ms("mpl1", "x", "P L"), "mg mpl1 v P L\r\n", "md mpl1 P L\r\n", "mn\r\n"))
add(case("meta_response_flag_order",
         cat(ms("mro1", "abc", "F5 T100"), "mg mro1 t s v c\r\n",
             "mg mro1 s v f t c k O99 h l\r\n", "mg mro1 k O1 f\r\n"), fresh=True))
add(case("meta_mixed_with_classic",
         "set mmc1 3 0 2\r\nhi\r\n", "mg mmc1 v f s\r\n", ms("mmc2", "yo", "F4"),
         "get mmc2\r\n", "gets mmc1 mmc2\r\n", "mg mmc2 c\r\n", "delete mmc1\r\n",
         "md mmc2\r\n", "get mmc1 mmc2\r\n"))

# =============================================================================================
# §1.2 shared flags: b O k q
# =============================================================================================
KEY_UTF8 = "テスト".encode()
add(case("meta_base64_keys",
         ms(b64(KEY_UTF8), "bin", "b"), "mg " + b64(KEY_UTF8) + " b k v c\r\n",
         "mg " + b64(KEY_UTF8) + " v\r\n", "ma " + b64(b"mb64n") + " b N0 J5 v k\r\n",
         "md " + b64(KEY_UTF8) + " b k q\r\n", "mg " + b64(KEY_UTF8) + " b k\r\n",
         "mn\r\n", fresh=True,
         doc="the same bytes without b are another key; k re-encodes and appends b"))
add(case("meta_base64_matches_classic_key",
         "set mbc1 0 0 2\r\nhi\r\n", "mg " + b64(b"mbc1") + " b v k\r\n",
         ms(b64(b"mbc2\x01"), "x", "b"), "get mbc2\x01\r\n", "mn\r\n"))
add(case("meta_base64_vivify_key_echo",
         cat("mg " + b64(b"mbv1") + " b k v s N30\r\n", "mg " + b64(b"mbv1") + " b k\r\n",
             "ma " + b64(b"mbv2") + " b N0 k v\r\n", "ma " + b64(b"mbv2") + " b k v\r\n"),
         "mn\r\n",
         doc="1.6.18 echoes the decoded key (no re-encoding, no b) for an item created by N"))
add(case("meta_base64_bad",
         "mg !!!! b v\r\n", "mg abc b v\r\n", "ms #### 1 b\r\nx\r\n", "md a=b= b\r\n",
         "ma ==== b\r\n", "mg " + b64(b"") + "= b\r\n", "mn\r\n"))
add(case("meta_base64_binary_key_me",
         cat(ms(b64(b"\x00\x01bin"), "x", "b"), "me " + b64(b"\x00\x01bin") + " b\r\n"),
         "mg " + b64(b"\x00\x01bin") + " b k s\r\n", "mn\r\n", fresh=True))
add(case("meta_opaque",
         ms("mop1", "x"), "mg mop1 O123 v\r\n", "mg mopx O123 v\r\n", "mg mopx O123 k\r\n",
         "mg mop1 Oabcdefghijklmnopqrstuvwxyz01234\r\n",
         "mg mop1 Oabcdefghijklmnopqrstuvwxyz012345\r\n", "md mopx O5 k\r\n",
         "ma mopx Oz\r\n", "ms mop1 1 Oq k\r\ny\r\n", "mn\r\n",
         doc="opaque <= 31 chars; echoed on hits and misses"))
add(case("meta_key_echo",
         ms("mke1", "x"), "mg mke1 k\r\n", "mg mkex k\r\n", "md mkex k\r\n", "ma mkex k\r\n",
         "ms mke1 1 k\r\ny\r\n", "mg mke1 k v s\r\n", "mn\r\n"))
add(case("meta_quiet_mode",
         ms("mqm1", "x", "q"), "mg mqm1 q v\r\n", "mg mqm1 q\r\n", "mg mqmx q v\r\n",
         "mg mqmx q k O1\r\n", "ms mqm1 1 q ME\r\ny\r\n", "ms mqm2 1 q MR\r\ny\r\n",
         "md mqm1 q\r\n", "md mqm1 q\r\n", ms("mqm3", "5"), "ma mqm3 q v\r\n", "ma mqm3 q\r\n",
         "ma mqmx q\r\n", "mg mqm3 v\r\n", "mn\r\n",
         doc="q hides EN/HD and ma success, never NS/NF/EX or errors"))
add(case("meta_quiet_pipeline",
         cat(*[ms(f"mqp{i}", str(i), "q") for i in range(20)],
             *[f"mg mqp{i} q v k\r\n" for i in range(25)], "mn\r\n")))

# =============================================================================================
# §2 mg
# =============================================================================================
add(case("mg_hit_miss_basic",
         ms("mgb1", "hello", "F9"), "mg mgb1\r\n", "mg mgb1 v\r\n", "mg mgb1 s\r\n",
         "mg mgb1 f\r\n", "mg mgbx\r\n", "mg mgbx v s f t c\r\n", "mn\r\n"))
add(case("mg_all_value_flags",
         cat(ms("mga1", "abc", "F5 T100"), "mg mga1 v s f t c k\r\n"), fresh=True))
add(case("mg_ttl",
         cat(ms("mgt1", "x"), "mg mgt1 t\r\n", ms("mgt2", "x", "T100"), "mg mgt2 t\r\n",
             "mg mgt2 T300 t\r\n", "mg mgt2 t T500\r\n", "mg mgt2 t\r\n", "mg mgt2 T0 t\r\n",
             "mg mgt2 T-1 v\r\n"), "mg mgt2 v\r\n",
         doc="flags apply left to right; T0 clears the TTL; T-1 expires"))
add(case("mg_touch_keeps_cas",
         ms("mgc1", "x"), "mg mgc1 c\r\n", "mg mgc1 T100 c\r\n", "mg mgc1 c\r\n", fresh=True))
add(case("mg_hit_before_h_l_u",
         cat(ms("mgh1", "x"), "mg mgh1 h l\r\n", "mg mgh1 h l\r\n", "mg mgh1 u h\r\n"),
         cat(ms("mgh2", "x"), "mg mgh2 u h\r\n", "mg mgh2 h\r\n", "mg mgh2 h\r\n"),
         "mn\r\n", doc="h: fetched before? u: no bump, no fetched mark"))
add(case("mg_vivify_N",
         cat("mg mgn1 s N30 t\r\n", "mg mgn1 s N30 t\r\n", "mg mgn1 s t v\r\n",
             "mg mgn1 N30 c q\r\n"), "mn\r\n", fresh=True,
         doc="N vivifies an empty item and returns W; later readers get Z"))
add(case("mg_vivify_then_set",
         cat("mg mgv1 N30 v\r\n", ms("mgv1", "data", "T30"), "mg mgv1 v N30\r\n"),
         "mn\r\n"))
add(case("mg_recache_R",
         cat(ms("mgr1", "x", "T100"), "mg mgr1 R30 v\r\n", "mg mgr1 R200 v t\r\n",
             "mg mgr1 R200 v\r\n"),
         cat(ms("mgr2", "x"), "mg mgr2 R30 v\r\n"), "mn\r\n",
         doc="R<ttl>: W when the remaining TTL is below the token, then Z"))
add(case("mg_stale_after_md_I",
         cat(ms("mgs1", "x", "T100"), "md mgs1 I T30\r\n", "mg mgs1 v t c\r\n",
             "mg mgs1 v c\r\n", ms("mgs1", "y", "T100"), "mg mgs1 v\r\n"), "mn\r\n",
         fresh=True, doc="X W to the first reader of a stale item, Z X afterwards"))
add(case("mg_E_invalid",
         ms("mge1", "x"), "mg mge1 E5 v\r\n", "mn\r\n"))
add(case("mg_counts_get_and_touch",
         ms("mgk1", "x"), "mg mgk1 v\r\n", "mg mgkx v\r\n", "mg mgk1 T0\r\n",
         "mg mgkx T10\r\n", "mg mgk1 u\r\n", "me mgk1\r\n", "me mgkx\r\n", "stats\r\n",
         masks=[(rb"la=\d+", b"la=<t>")],
         stats=["cmd_get", "get_hits", "get_misses", "cmd_touch", "touch_hits", "touch_misses",
                "cmd_meta", "cmd_set"]))
add(case("mg_large_value",
         ms("mgl1", "L" * 300000), "mg mgl1 s v\r\n", "mn\r\n"))

# =============================================================================================
# §3 ms
# =============================================================================================
add(case("ms_basic",
         ms("msb1", "hello"), "mg msb1 v f t\r\n", ms("msb1", "bye", "F3 T0"),
         "mg msb1 v f t\r\n", "ms msb1 0\r\n\r\n", "mg msb1 v s\r\n", "mn\r\n"))
add(case("ms_ttl_and_flags",
         cat(ms("mst1", "x", "T100 F4294967295"), "mg mst1 t f v\r\n"),
         ms("mst2", "x", "T-1"), "mg mst2 v\r\n", ms("mst3", "x", "F4294967296"),
         "mg mst3 f\r\n", "mn\r\n"))
add(case("ms_modes",
         ms("msm1", "a", "ME"), ms("msm1", "b", "ME"), "mg msm1 v\r\n",
         ms("msm1", "c", "MA"), ms("msm1", "d", "MP"), "mg msm1 v\r\n",
         ms("msm1", "e", "MR"), "mg msm1 v\r\n", ms("msmx", "f", "MR"),
         ms("msmx", "g", "MA"), ms("msmx", "h", "MP"), ms("msm1", "i", "MS"),
         "mg msm1 v\r\n", ms("msm1", "j", "Ms"), ms("msm1", "j", "Ma"), "mg msm1 v\r\n",
         "mn\r\n", doc="S set, E add, A append, P prepend, R replace (case-insensitive?)"))
add(case("ms_mode_errors",
         ms("mse1", "a", "MX"), ms("mse1", "b", "MSS"), ms("mse1", "c", "M"), "mg mse1 v\r\n",
         "mn\r\n", doc="bad mode / mode token length errors swallow the data block"))
add(case("ms_cas",
         ms("msc1", "a"), "mg msc1 c\r\n", ms("msc1", "b", "C1"), ms("msc1", "c", "C1"),
         ms("msc1", "d", "C2 c"), "mg msc1 v c\r\n", ms("mscx", "e", "C5"),
         ms("mscx", "e", "C5 c"), ms("msc1", "f", "C0"), fresh=True,
         doc="C: EX on mismatch, NF on a missing key; c returns the new CAS (c0 on failure)"))
add(case("ms_cas_with_modes",
         ms("msd1", "a"), ms("msd1", "b", "C1 MA"), ms("msd1", "c", "C9 MA"),
         ms("msd1", "d", "C2 MP"), ms("msd1", "e", "C9 ME"), ms("msd1", "f", "C3 MR"),
         ms("msd1", "f", "C9 MR"), "mg msd1 v c\r\n", ms("msdx", "g", "C9 ME c"),
         ms("msdy", "h", "C9 MA"), fresh=True))
add(case("ms_return_cas",
         ms("msr1", "a", "c"), ms("msr1", "b", "c k O7"), ms("msr1", "c", "ME c"),
         ms("msr1", "d", "MA c q"), fresh=True))
add(case("ms_invalidate_I",
         ms("msi1", "a", "T100"), "mg msi1 c\r\n", ms("msi1", "b", "I C99"),
         cat(ms("msi1", "c", "I C1 T30"), "mg msi1 v c t\r\n"), "mg msi1 v c\r\n",
         ms("msi1", "d", "I"), "mg msi1 v\r\n", fresh=True,
         doc="I with a lower CAS stores but marks the item stale"))
add(case("ms_s_N_accepted",
         ms("msn1", "x", "s"), ms("msn1", "y", "N30"), "mg msn1 v t\r\n", "mn\r\n"))
add(case("ms_invalid_datalen",
         "ms msl1 abc\r\nx\r\n", "ms msl1 -1\r\nx\r\n", "ms msl1 1x\r\nx\r\n",
         "ms msl1 +1\r\nx\r\n", "mg msl1 v\r\n", "mn\r\n",
         doc="invalid datalen: error, data block not swallowed"))
add(case("ms_bad_data_chunk",
         "ms msk1 1\r\nabc\r\n", "ms msk1 1 q\r\nxyz\r\n", "mg msk1 v\r\n", "mn\r\n",
         doc="bad trailer -> CLIENT_ERROR bad data chunk, even with q"))
add(case("ms_too_large",
         ms("t", "x"), "ms t 1048516\r\n" + "y" * 1048516 + "\r\n", "mg t s\r\n",
         "ms t 1048517 q\r\n" + "z" * 1048517 + "\r\n", "mg t s\r\n", "mn\r\n",
         fresh=True, doc="too large: the block is swallowed and the old item removed"))
add(case("ms_fragmented",
         "ms msf1 ", "10 T0", " F1\r\n01234", "56789\r", "\n", "mg msf1 v f\r\n"))
add(case("ms_out_of_memory",
         *[ms(f"mso{i}", "o" * 300000) for i in range(12)], ms("mso0", "small"),
         "mg mso0 v\r\n", "stats\r\n", flags=["-M", "-m", "2"],
         stats=["store_no_memory", "curr_items", "cmd_set"]))
add(case("ms_stats",
         ms("msz1", "x"), ms("msz1", "y", "ME"), ms("msz2", "x", "MR"), "ms msz3 1\r\nabc\r\n",
         "stats\r\n", stats=["cmd_set", "curr_items", "total_items", "bytes"]))

# =============================================================================================
# §4 md
# =============================================================================================
add(case("md_basic",
         ms("mdb1", "x"), "md mdb1\r\n", "md mdb1\r\n", "mg mdb1 v\r\n", ms("mdb1", "x"),
         "md mdb1 q\r\n", "md mdb1 q\r\n", "md mdbx k O5\r\n", "md mdbx q k O5\r\n",
         "mn\r\n"))
add(case("md_cas",
         ms("mdc1", "x"), "md mdc1 C99\r\n", "md mdc1 C1 k\r\n", "mg mdc1 v\r\n",
         ms("mdc2", "x"), "md mdc2 C99 q\r\n", "md mdc2 C0\r\n", "mn\r\n", fresh=True))
add(case("md_invalidate",
         cat(ms("mdi1", "x", "T100"), "md mdi1 I T30\r\n", "mg mdi1 v t c\r\n",
             "mg mdi1 v c\r\n", "md mdi1 I\r\n", "mg mdi1 v c\r\n"),
         "md mdix I\r\n", "mn\r\n", fresh=True))
add(case("md_T_without_I",
         cat(ms("mdt1", "x", "T100"), "md mdt1 T30\r\n", "mg mdt1 v t\r\n"), "mn\r\n"))
add(case("md_stats",
         ms("mds1", "x"), ms("mds2", "x"), "md mds1\r\n", "md mdsx\r\n", "md mds2 C999\r\n",
         "delete mds1\r\n", "stats\r\n",
         stats=["delete_hits", "delete_misses", "curr_items", "cmd_set"]))

# =============================================================================================
# §5 ma
# =============================================================================================
add(case("ma_basic",
         ms("mab1", "5"), "ma mab1\r\n", "mg mab1 v\r\n", "ma mab1 v\r\n", "ma mab1 D10 v\r\n",
         "ma mab1 MD D3 v\r\n", "ma mab1 M- v\r\n", "ma mab1 M+ v\r\n", "ma mab1 MI v\r\n",
         "ma mab1 Md v\r\n", "ma mab1 Mi v\r\n", "ma mabx\r\n", "ma mabx v k O1\r\n",
         "mn\r\n"))
add(case("ma_modes_invalid",
         ms("mam1", "5"), "ma mam1 MX\r\n", "ma mam1 MDD\r\n", "ma mam1 M\r\n",
         "mg mam1 v\r\n", "mn\r\n"))
add(case("ma_floor_and_wrap",
         ms("maw1", "6"), "ma maw1 MD D10 v\r\n", ms("maw2", "18446744073709551615"),
         "ma maw2 v\r\n", "mg maw2 v s\r\n", ms("maw3", "100"), "ma maw3 MD v\r\n",
         "mg maw3 v s\r\n", "ma maw3 D18446744073709551615 v\r\n",
         "ma maw3 D18446744073709551616 v\r\n", "mn\r\n"))
add(case("ma_autovivify",
         cat("ma man1 N0 J5 v\r\n", "ma man1 v\r\n", "ma man2 N0 v t\r\n",
             "ma man3 N100 J10 MD v t\r\n", "ma man4 J7 v\r\n", "mg man4 v\r\n"),
         "mn\r\n", doc="N creates the item with J (default 0); the delta is not applied"))
add(case("ma_non_numeric",
         ms("mak1", "abc"), "ma mak1\r\n", ms("mak2", ""), "ma mak2 v\r\n",
         ms("mak3", "-1"), "ma mak3 q\r\n", "mn\r\n"))
add(case("ma_ttl_cas_flags",
         cat(ms("mat1", "1", "T100"), "ma mat1 t v\r\n", "ma mat1 T500 t\r\n",
             "ma mat1 c\r\n", "mg mat1 c\r\n", "ma mat1 C1 v\r\n", "ma mat1 C4 v c\r\n",
             "ma mat1 C99 v\r\n"), fresh=True))
add(case("ma_quiet",
         ms("maq1", "1"), "ma maq1 q\r\n", "ma maq1 q v\r\n", "ma maqx q\r\n",
         "ma maqx q N0 v\r\n", "mg maq1 v\r\n", "mg maqx v\r\n", "mn\r\n"))
add(case("ma_padding",
         ms("map1", "100"), "ma map1 MD v\r\n", "mg map1 v s\r\n", "get map1\r\n", "mn\r\n"))
add(case("ma_stats",
         ms("mas1", "1"), "ma mas1\r\n", "ma mas1 MD\r\n", "ma masx\r\n", "ma masx MD\r\n",
         "ma masy N0\r\n", "stats\r\n",
         stats=["incr_hits", "incr_misses", "decr_hits", "decr_misses", "curr_items"]))

# =============================================================================================
# §6 mn / §7 me
# =============================================================================================
add(case("mn_basic",
         "mn\r\n", "mn extra tokens\r\n", "mn\r\nmn\r\n"))
add(case("meta_me_basic",
         cat("set mme1 0 0 34\r\n" + "x" * 34 + "\r\n", "me mme1\r\n", "me mme1 extra\r\n"),
         cat("set mme2 1 0 30\r\n" + "y" * 30 + "\r\n", "get mme2\r\n", "me mme2\r\n"),
         "me mmex\r\n", "me\r\n", fresh=True,
         doc="no TTL (exp=-1); size, cls, fetch, cas"))
add(case("meta_me_ttl",
         cat(ms("mmt1", "x", "T100"), "me mmt1\r\n"), fresh=True,
         doc="memcached prints exp as (now - exptime): the 1.6.18 sign bug"))
add(case("meta_me_binary_and_large",
         cat(ms("mml1", "z" * 5000), "me mml1\r\n", "me " + "k" * 250 + "\r\n"),
         fresh=True))
