"""Classic text protocol: the same bytes to memcached and to memcache_py (corpus_classic.py)."""

from __future__ import annotations

import pytest

from . import corpus_classic, corpus_hardening, corpus_meta, harness
from .conftest import case_params, check_disjoint_keys, check_outcome

pytestmark = pytest.mark.differential

CORPUS = corpus_classic.CASES
BY_NAME = {c.name: c for c in CORPUS}


@pytest.mark.parametrize("mode, name", list(case_params(CORPUS)))
def test_classic(mode, name, diff_results):
    check_outcome(diff_results[mode][name])


def test_case_names_unique():
    harness.check_corpus(corpus_classic.CASES + corpus_meta.CASES)


def test_shared_cases_use_disjoint_keys():
    check_disjoint_keys(CORPUS)


def test_expected_differences_exist():
    names = {c.name for c in corpus_classic.CASES + corpus_meta.CASES}
    assert set(harness.EXPECTED_DIFFERENCES) <= names
    hardening = {c.name for c in corpus_hardening.CASES}
    assert set(harness.DEFAULT_MODE_DIFFERENCES) <= names | hardening
