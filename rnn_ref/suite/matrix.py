"""Parametrization over the selected engines and the shared case matrix (fixtures ``engine``, ``case``).

A test that takes ``engine`` and ``case`` runs once per (engine, case) with ids like
``torch-lstm-L2-bi-NTC-h0-len-f32``. What an engine cannot express is generated as a skip
whose reason starts with ``unsupported by <engine>:`` (pytest -ra lists them with counts);
a known engine defect becomes a strict xfail citing the upstream report. A test that takes
``engine`` alone runs once per selected engine; ``engine_or_skip(name)`` gives one engine's
adapter when it was selected.

Used by ``rnn_ref/suite/conftest.py`` and by this repository's ``tests/conftest.py``, which
import ``pytest_generate_tests`` and ``engine_or_skip`` so that pytest applies them to the
tests of their own folder only.
"""

from __future__ import annotations

import functools

import pytest

from rnn_ref.adapters import load_adapter
from rnn_ref.cases.matrix import Case, all_cases
from rnn_ref.cases.pairwise import pairwise_cases
from rnn_ref.judge.runner import GRAD_SUFFIX, KnownDefectReproduced
from rnn_ref.pytest_plugin import check_case_bound, requested, selection


def engine_case_param(engine: str, case: Case, runs_the_layer: bool = True, gradients: bool = False,
                      every_gradient: bool = True):
    """One (engine, case); ``gradients``: for a gradient test (its own limits and defects, id ``…-grad``).
    ``every_gradient`` False: an engine that declares ``slow_gradients`` differentiates only the
    pairwise subset; its other gradient cases are skipped as not run here, with the reason."""
    adapter = load_adapter(engine)
    marks = [pytest.mark.engine]
    if case.slow:
        marks.append(pytest.mark.slow)
    expected = adapter.expectation(case.spec, case.dtype, case.with_lengths, gradients=gradients,
                                    with_state=case.with_state)
    if expected.unsupported is not None:
        marks.append(pytest.mark.skip(reason=f"unsupported by {engine}: {expected.unsupported}"))
    elif gradients and not every_gradient and adapter.slow_gradients and case.id not in pairwise_ids():
        marks.append(pytest.mark.skip(reason=f"not differentiated live by {engine} in this run: "
                                             f"{adapter.slow_gradients}; it differentiates the pairwise subset "
                                             "(rnn_ref/cases/pairwise.py); every case: pytest --full-gradients, "
                                             "or rnn-ref check"))
    elif expected.defect is not None and runs_the_layer:
        marks.append(pytest.mark.xfail(reason=f"known {engine} defect: {expected.defect}", strict=True,
                                       raises=KnownDefectReproduced))
    suffix = GRAD_SUFFIX if gradients else ""
    return pytest.param(engine, case, marks=marks, id=f"{engine}-{adapter.case_label(case)}{suffix}")


@functools.cache
def pairwise_ids() -> frozenset[str]:
    return frozenset(case.id for case in pairwise_cases())


NO_ENGINE = pytest.mark.skip(reason="no engine selected: pass --engines NAME or run an engine's tox env")


def parametrized_by_the_test(metafunc: pytest.Metafunc) -> set[str]:
    names: set[str] = set()
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0]
        names |= {n.strip() for n in argnames.split(",")} if isinstance(argnames, str) else set(argnames)
    return names


def pytest_configure(config: pytest.Config) -> None:
    """When a conftest that imports this (the suite's, tests/) is loaded: engines named by
    ``--engines`` are looked up now (their plug-ins imported), so a bad name stops the run
    with a usage error before anything is collected. ``installed`` waits for the first test
    that takes ``engine``. A bad ``RNN_REF_CASE_TIMEOUT`` stops it too (else every case would
    fail on it)."""
    check_case_bound()
    engines = selection(config)
    if requested(config) is not None:
        engines.resolve()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``engine`` (and ``case``) over the selected engines, unless the test does it itself."""
    if "engine" not in metafunc.fixturenames or "engine" in parametrized_by_the_test(metafunc):
        return
    engines = list(selection(metafunc.config))  # resolved here the first time: imports the plug-ins it needs
    if "engine" in metafunc.fixturenames and not engines:
        # One visible, deselectable placeholder (-m "not engine") instead of an anonymous empty set.
        names = [name for name in ("engine", "case") if name in metafunc.fixturenames]
        placeholder = pytest.param(*[None] * len(names), marks=[pytest.mark.engine, NO_ENGINE], id="no-engine")
        metafunc.parametrize(names, [placeholder])
    elif {"engine", "case"} <= set(metafunc.fixturenames):
        cases = all_cases()
        if "small_specs_only" in metafunc.definition.keywords:
            cases = [c for c in cases if not c.with_state and not c.with_lengths and c.spec.layout == "TNC"]
        # A known defect is about what the engine computes: only tests that run the layer xfail.
        runs_the_layer = "small_specs_only" not in metafunc.definition.keywords
        gradients = "gradients" in metafunc.definition.keywords
        every_gradient = bool(metafunc.config.getoption("--full-gradients"))
        params = [engine_case_param(engine, case, runs_the_layer, gradients, every_gradient)
                  for engine in engines for case in cases]
        metafunc.parametrize(("engine", "case"), params)
    elif "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", [pytest.param(e, marks=pytest.mark.engine) for e in engines])


@pytest.fixture(scope="session")
def engine_or_skip(request: pytest.FixtureRequest):
    """``engine_or_skip(name)``: the adapter if that engine was selected, else a skip saying how to select it."""

    def require(engine: str):
        if engine not in selection(request.config):
            pytest.skip(f"engine {engine!r} not selected: run its tox env or pass --engines {engine}")
        return load_adapter(engine)

    return require
