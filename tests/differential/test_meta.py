"""Meta protocol (mg ms md ma mn me): memcached vs memcache_py (corpus_meta.py)."""

from __future__ import annotations

import pytest

from . import corpus_meta, harness
from .conftest import case_params, check_disjoint_keys, check_outcome

pytestmark = pytest.mark.differential

CORPUS = corpus_meta.CASES


@pytest.mark.parametrize("mode, name", list(case_params(CORPUS)))
def test_meta(mode, name, diff_results):
    check_outcome(diff_results[mode][name])


def test_shared_cases_use_disjoint_keys():
    check_disjoint_keys(CORPUS)
