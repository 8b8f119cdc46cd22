"""pytest glue for the differential suite (see README.md in this directory)."""

from __future__ import annotations

import time
import warnings

import pytest

from . import harness

_RUNS: list[tuple[str, int, float]] = []


def _selected_names(session: pytest.Session, module, mode: str) -> list[str]:
    names = []
    for item in session.items:
        if getattr(item, "module", None) is module and hasattr(item, "callspec"):
            name = item.callspec.params.get("name")
            if name is not None and item.callspec.params.get("mode", mode) == mode:
                names.append(name)
    return names


class _ResultsByMode(dict):
    """Each mode's cases run once, concurrently, when the first test of that mode asks."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def __missing__(self, mode: str) -> dict:
        module = self.request.module
        wanted = set(_selected_names(self.request.session, module, mode))
        cases = [c for c in module.CORPUS if c.name in wanted]
        t0 = time.monotonic()
        results = self[mode] = harness.run_cases(cases, mode=mode)
        _RUNS.append((f"{module.__name__} [{mode}]", len(cases), time.monotonic() - t0))
        return results


@pytest.fixture(scope="module")
def diff_results(request):
    """mode -> case name -> outcome, for the requesting module's CORPUS."""
    why = harness.memcached_available()
    if why:
        pytest.skip(why)
    return _ResultsByMode(request)


def check_outcome(o: harness.Outcome) -> None:
    """Assert one case's outcome (shared by test_classic and test_meta)."""
    if o.skipped:
        pytest.skip(o.skipped)
    if o.error or o.corpus_error or not o.same:
        pytest.fail(harness.explain(o), pytrace=False)
    if o.retried:
        first = o.first_attempt
        warnings.warn(f"differential case {o.case.name!r} passed only on a retry with fresh "
                      f"servers; first attempt:\n{harness.explain(first) if first else ''}")


def pytest_terminal_summary(terminalreporter):
    for module, n, secs in _RUNS:
        mode = ("self-test: memcached vs memcached" if harness.SELF_TEST else
                f"target 127.0.0.1:{harness.TARGET_PORT}" if harness.TARGET_PORT else
                "memcached vs memcache_py")
        terminalreporter.write_line(f"differential {module}: {n} cases in {secs:.1f}s ({mode})")


def mode_params(c: harness.Case, marks=(), raises=None):
    """One pytest param (mode, name) per mode `c` is valid in. Without `marks` of its own, a
    declared expected difference of that mode runs as a non-strict xfail."""
    for mode in harness.MODES:
        if mode not in c.modes:
            continue
        why = None if marks or harness.SELF_TEST else harness.expected_difference(c, mode)
        xfail = [pytest.mark.xfail(reason=why, strict=False, raises=raises)] if why else []
        yield pytest.param(mode, c.name, marks=[*marks, *xfail], id=f"{mode}-{c.name}")


def case_params(corpus):
    """mode_params for every case of `corpus`."""
    for c in corpus:
        yield from mode_params(c)


def check_disjoint_keys(corpus) -> None:
    """Cases on the shared server pair run concurrently: no key may be used by two of them."""
    owner: dict[bytes, str] = {}
    for c in corpus:
        if c.needs_fresh:
            continue
        for k in harness.request_keys(c):
            assert owner.setdefault(k, c.name) == c.name, (
                f"key {k[:40]!r} is used by shared cases {owner[k]!r} and {c.name!r}")
