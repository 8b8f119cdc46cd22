"""bench.stress.verifier: every kind of wrong value is caught, and the ledger flags stale ones."""

import pytest

from bench.stress.verifier import CORRUPTION, KeyLedger, Verdict, check_value, first_difference
from bench.stress.workload import HEADER_LEN, flags_for, make_key, make_value

pytestmark = pytest.mark.unit

KEY = make_key(b"st:abc123:", 42)


def flip(data: bytes, pos: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[pos] ^= mask
    return bytes(out)


@pytest.mark.parametrize("length", [HEADER_LEN, 25, 100, 4096, 300_000])
def test_a_fresh_value_checks_out(length):
    value = make_value(KEY, 7, length)
    assert len(value) == length
    assert check_value(KEY, value, flags_for(7)) == (Verdict.OK, 7)
    assert check_value(KEY, value) == (Verdict.OK, 7)          # flags not known: not checked


def test_values_are_deterministic_and_differ_by_version_and_key():
    assert make_value(KEY, 3, 500) == make_value(KEY, 3, 500)
    assert make_value(KEY, 3, 500) != make_value(KEY, 4, 500)
    assert make_value(KEY, 3, 500)[HEADER_LEN:] != make_value(KEY, 4, 500)[HEADER_LEN:]
    assert make_value(KEY, 3, 500) != make_value(make_key(b"st:abc123:", 43), 3, 500)


def test_every_single_flipped_byte_is_caught():
    for version in (1, 2, 999_999):
        value = make_value(KEY, version, 160)
        for pos in range(len(value)):
            for mask in (0x01, 0x80):
                verdict, _ = check_value(KEY, flip(value, pos, mask), flags_for(version))
                assert verdict in CORRUPTION, (version, pos, mask)


def test_a_flipped_body_byte_is_a_corrupt_body():
    value = make_value(KEY, 5, 2000)
    assert check_value(KEY, flip(value, 1500))[0] is Verdict.CORRUPT_BODY
    assert check_value(KEY, flip(value, len(value) - 1))[0] is Verdict.CORRUPT_BODY


@pytest.mark.parametrize("cut", [1, 2, 100, 1000 - HEADER_LEN])
def test_a_truncated_value_is_caught(cut):
    value = make_value(KEY, 5, 1000)
    assert check_value(KEY, value[:-cut])[0] is Verdict.BAD_LENGTH


def test_a_padded_value_is_caught():
    value = make_value(KEY, 5, 1000)
    assert check_value(KEY, value + b"\x00")[0] is Verdict.BAD_LENGTH


def test_a_value_shorter_than_its_header_is_caught():
    assert check_value(KEY, make_value(KEY, 5, 100)[:10])[0] is Verdict.BAD_HEADER
    assert check_value(KEY, b"")[0] is Verdict.BAD_HEADER


def test_another_keys_value_is_caught():
    other = make_key(b"st:abc123:", 43)
    assert check_value(KEY, make_value(other, 5, 300))[0] is Verdict.WRONG_KEY


def test_foreign_bytes_are_caught():
    assert check_value(KEY, b"x" * 300)[0] is Verdict.BAD_HEADER
    assert check_value(KEY, b"Z" + make_value(KEY, 5, 300)[1:])[0] is Verdict.BAD_HEADER


def test_wrong_flags_are_caught():
    value = make_value(KEY, 5, 300)
    assert check_value(KEY, value, flags_for(5) + 1)[0] is Verdict.BAD_FLAGS


def test_a_zero_byte_hole_is_caught():
    value = bytearray(make_value(KEY, 5, 5000))
    value[2048:3072] = bytes(1024)
    assert check_value(KEY, bytes(value))[0] is Verdict.CORRUPT_BODY


def test_first_difference():
    assert first_difference(b"abcd", b"abXd") == 2
    assert first_difference(b"abc", b"abcdef") == 3


# ---------------------------------------------------------------------------------- the ledger

def test_ledger_floor_follows_acknowledged_writes():
    ledger = KeyLedger(4)
    assert ledger.read_floor(0) == 0
    v1 = ledger.begin_write(0)
    assert ledger.read_floor(0) == 0            # not answered yet: the old value may be read
    ledger.end_write(0, applied=True)
    assert ledger.read_floor(0) == v1
    v2 = ledger.begin_write(0)
    ledger.end_write(0, applied=True)
    assert ledger.judge(ledger.read_floor(0), v2) is Verdict.OK
    assert ledger.judge(ledger.read_floor(0), v1) is Verdict.STALE
    assert ledger.read_floor(1) == 0            # other keys untouched


def test_ledger_overlapping_writes_allow_any_of_the_group():
    ledger = KeyLedger(1)
    ledger.begin_write(0)
    ledger.end_write(0, True)
    a = ledger.begin_write(0)
    b = ledger.begin_write(0)                   # in flight together: any order on the server
    ledger.end_write(0, True)
    assert ledger.read_floor(0) == a - 1        # group still open
    ledger.end_write(0, True)
    floor = ledger.read_floor(0)
    assert floor == a
    assert ledger.judge(floor, a) is Verdict.OK and ledger.judge(floor, b) is Verdict.OK
    assert ledger.judge(floor, a - 1) is Verdict.STALE


def test_ledger_a_failed_write_keeps_the_floor():
    ledger = KeyLedger(1)
    v1 = ledger.begin_write(0)
    ledger.end_write(0, True)
    ledger.begin_write(0)
    ledger.end_write(0, applied=False)          # e.g. SERVER_ERROR out of memory
    assert ledger.read_floor(0) == v1
    assert ledger.judge(v1, v1) is Verdict.OK


def test_ledger_a_delete_makes_older_values_stale():
    ledger = KeyLedger(1)
    v1 = ledger.begin_write(0)
    ledger.end_write(0, True)
    ledger.begin_write(0)                       # delete
    ledger.end_write(0, True)
    assert ledger.judge(ledger.read_floor(0), v1) is Verdict.STALE


def test_ledger_unknown_versions():
    ledger = KeyLedger(1)
    v1 = ledger.begin_write(0)
    ledger.end_write(0, True)
    assert ledger.judge(0, v1 + 1) is Verdict.UNKNOWN_VERSION
    assert ledger.judge(0, 0) is Verdict.UNKNOWN_VERSION
    assert Verdict.UNKNOWN_VERSION in CORRUPTION and Verdict.STALE not in CORRUPTION
