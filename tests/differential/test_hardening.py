"""Hostile clients (issue #5): memcached vs memcache_py on corpus_hardening.py.

Cases listed in `KNOWN_ISSUES` are bugs of memcache_py that issue #5 reported: they run as
xfail(strict=True, raises=ReplyDiffers), so a harness or corpus error still fails loudly and a
fixed case fails as XPASS until its entry is removed.
"""

from __future__ import annotations

import pytest

from . import corpus_hardening, harness
from .conftest import check_outcome, mode_params

pytestmark = pytest.mark.differential

CORPUS = corpus_hardening.CASES


class ReplyDiffers(AssertionError):
    """memcache_py answered differently from memcached (the case itself ran fine)."""


def _params():
    for c in CORPUS:
        marks = []
        if not harness.SELF_TEST:
            if c.name in corpus_hardening.KNOWN_ISSUES:
                marks.append(pytest.mark.xfail(
                    reason="issue #5: " + corpus_hardening.KNOWN_ISSUES[c.name], strict=True,
                    raises=ReplyDiffers))
            elif c.name in corpus_hardening.INTENDED_DIFFERENCES:
                marks.append(pytest.mark.xfail(
                    reason=corpus_hardening.INTENDED_DIFFERENCES[c.name], strict=False,
                    raises=ReplyDiffers))
        yield from mode_params(c, marks, raises=ReplyDiffers)


@pytest.mark.parametrize("mode, name", list(_params()))
def test_hardening(mode, name, diff_results):
    o = diff_results[mode][name]
    if o.skipped or o.error or o.corpus_error:
        check_outcome(o)                 # skips, or fails as a harness/corpus problem
    if not o.same:
        raise ReplyDiffers(harness.explain(o))
    check_outcome(o)


def test_corpus_is_consistent():
    harness.check_corpus(CORPUS)
    names = {c.name for c in CORPUS}
    assert set(corpus_hardening.KNOWN_ISSUES) <= names
    assert set(corpus_hardening.INTENDED_DIFFERENCES) <= names
    assert all(c.needs_fresh for c in CORPUS), "hardening cases run on their own servers"


def test_fuzz_sessions_are_deterministic():
    a = corpus_hardening.fuzz_sessions(0)
    assert a == corpus_hardening.fuzz_sessions(0)
    assert len(a) == corpus_hardening.FUZZ_SESSIONS // corpus_hardening.FUZZ_GROUPS
