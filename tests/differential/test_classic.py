"""Classic text protocol: the same bytes to memcached and to memcache_py (corpus_classic.py)."""

from __future__ import annotations

import pytest

from . import corpus_classic, corpus_meta, harness
from .conftest import check_outcome

pytestmark = pytest.mark.differential

CORPUS = corpus_classic.CASES
BY_NAME = {c.name: c for c in CORPUS}


def _params():
    for c in CORPUS:
        marks = []
        if c.expected_difference and not harness.SELF_TEST:
            marks.append(pytest.mark.xfail(reason=c.expected_difference, strict=False))
        yield pytest.param(c.name, marks=marks, id=c.name)


@pytest.mark.parametrize("name", list(_params()))
def test_classic(name, diff_results):
    check_outcome(diff_results[name])


def test_case_names_unique():
    harness.check_corpus(corpus_classic.CASES + corpus_meta.CASES)


def test_shared_cases_use_disjoint_keys():
    """Cases on the shared server pair run concurrently: no key may be used by two of them."""
    owner: dict[bytes, str] = {}
    for c in CORPUS:
        if c.needs_fresh:
            continue
        for k in harness.request_keys(c):
            assert owner.setdefault(k, c.name) == c.name, (
                f"key {k[:40]!r} is used by shared cases {owner[k]!r} and {c.name!r}")


def test_expected_differences_exist():
    names = {c.name for c in corpus_classic.CASES + corpus_meta.CASES}
    assert set(harness.EXPECTED_DIFFERENCES) <= names
