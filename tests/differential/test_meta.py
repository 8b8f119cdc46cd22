"""Meta protocol (mg ms md ma mn me): memcached vs memcache_py (corpus_meta.py)."""

from __future__ import annotations

import pytest

from . import corpus_meta, harness
from .conftest import check_outcome

pytestmark = pytest.mark.differential

CORPUS = corpus_meta.CASES


def _params():
    for c in CORPUS:
        marks = []
        if c.expected_difference and not harness.SELF_TEST:
            marks.append(pytest.mark.xfail(reason=c.expected_difference, strict=False))
        yield pytest.param(c.name, marks=marks, id=c.name)


@pytest.mark.parametrize("name", list(_params()))
def test_meta(name, diff_results):
    check_outcome(diff_results[name])


def test_shared_cases_use_disjoint_keys():
    owner: dict[bytes, str] = {}
    for c in CORPUS:
        if c.needs_fresh:
            continue
        for k in harness.request_keys(c):
            assert owner.setdefault(k, c.name) == c.name, (
                f"key {k[:40]!r} is used by shared cases {owner[k]!r} and {c.name!r}")
