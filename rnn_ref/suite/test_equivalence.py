"""Every selected engine against the NumPy reference, over the whole case matrix.

For each (engine, case): the same canonical weights go into the engine through its mapping
rows, the engine runs the case's input, and outputs (valid steps), the outputs at padded
steps (each engine's documented behaviour), h_n and c_n must match the reference within the
tolerance of the case's dtype (rnn_ref.core.compare.TOLERANCES). Shipped with the package, so any
project runs it on its own engine: ``pytest --pyargs rnn_ref.suite --engines NAME``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params
from rnn_ref.adapters import load_adapter
from rnn_ref.cases.matrix import Case
from rnn_ref.judge.runner import (
    DEFECT_GONE,
    FAIL,
    KNOWN_DEFECT,
    PASS,
    KnownDefectReproduced,
    bounded,
    engine_inputs,
    run_case,
)
from rnn_ref.results.pytest_results import keep_verdict
from rnn_ref.results.records import FORWARD


def test_engine_matches_reference(engine, case, request):
    """A known-defect case carries a strict xfail: it must fail here, and only by reproducing the
    defect; the day it passes (DEFECT_GONE), the strict xfail turns into a failure of the run.
    (``--results FILE`` keeps the verdict: rnn_ref/results/pytest_results.py.)"""
    result = run_case(load_adapter(engine), case)
    keep_verdict(request, result, FORWARD)
    if result.status == KNOWN_DEFECT:
        raise KnownDefectReproduced(f"{result.reason}:\n{result.report()}")
    if result.status == DEFECT_GONE:
        return
    assert result.status == PASS, result.report() if result.status == FAIL else result.reason


def test_rows_cover_every_native_element_and_every_canonical_block_once(engine):
    """The mapping rows are data that copying, `rnn-ref map` and conversion all trust: every native
    element is written by exactly one row, and every canonical block is used exactly once."""
    from rnn_ref.cases.matrix import small_matrix

    adapter = load_adapter(engine)
    specs = {c.spec for c in small_matrix() if adapter.layer_unsupported_reason(c.spec) is None}
    problems = {str(spec): adapter.mapping(spec).coverage_problems() for spec in specs}
    assert not any(problems.values()), {spec: found for spec, found in problems.items() if found}


def folded_by_hand(params: Params, one_bias_gates: set[tuple[str, str]]) -> Params:
    """The canonical fold of a one-bias engine, written out: for each (unit, gate) the engine
    keeps one bias of, ``b_ih`` becomes ``b_ih + b_hh`` and ``b_hh`` becomes zeros."""
    blocks = dict(params)
    for unit, gate in one_bias_gates:
        blocks[f"{unit}.b_ih.{gate}"] = params[f"{unit}.b_ih.{gate}"] + params[f"{unit}.b_hh.{gate}"]
        blocks[f"{unit}.b_hh.{gate}"] = np.zeros_like(params[f"{unit}.b_hh.{gate}"])
    return Params(params.spec, blocks)


@pytest.mark.small_specs_only
def test_extract_of_build_gives_back_the_params_bit_exactly(engine, case):
    """Round trip through the real framework. A one-bias engine (Keras) holds b_ih + b_hh, so
    what comes back is the params with the biases folded by hand (b_ih + b_hh into b_ih, zeros
    into b_hh), computed without the mapping code that does the round trip."""
    adapter = load_adapter(engine)
    params = case.data().params
    # which (unit, gate) biases share one native region: rows that name a b_ih and a b_hh block
    one_bias = {tuple(key.split(".b_ih.")) for row in adapter.mapping(case.spec).rows if row.combine == "sum"
                for key in row.canonical if ".b_ih." in key}
    expected = folded_by_hand(params, one_bias)
    extracted = bounded(adapter, f"{engine} round trip of case {case.id}", None,
                        lambda: adapter.extract(case.spec, adapter.build(case.spec, params)))
    assert extracted.equal(expected), [k for k in params if not (extracted[k] == expected[k]).all()]


def test_every_declared_limit_is_hit_by_some_case(engine):
    """A limit no case reaches is a stale declaration (it could hide a regression)."""
    from rnn_ref.cases.matrix import all_cases

    adapter = load_adapter(engine)
    reasons = {adapter.expectation(c.spec, c.dtype, c.with_lengths).unsupported for c in all_cases()}
    assert set(adapter.limits) <= reasons, set(adapter.limits) - reasons
    # besides its limits, a case may be unsupported for an option the adapter does not declare
    undeclared = {limit.reason for limit in adapter.option_limits}
    assert reasons - {None} - undeclared <= set(adapter.limits), "unsupported_reason gave a reason not listed in limits"


def test_an_unsupported_case_is_refused(engine):
    """Declared limits are real: building or running such a case raises UnsupportedCase, never
    a wrong answer (a limit that depends on lengths can only show when the layer runs)."""
    from rnn_ref.cases.matrix import all_cases
    from rnn_ref.core.errors import UnsupportedCase

    adapter = load_adapter(engine)
    why = {c: adapter.expectation(c.spec, c.dtype, c.with_lengths).unsupported for c in all_cases()}
    for reason in adapter.limits:
        case = next(c for c in why if why[c] == reason)
        with pytest.raises(UnsupportedCase, match=r"^" + engine):
            bounded(adapter, f"{engine} on refused case {case.id}", None, build_and_run, adapter, case)


def build_and_run(adapter, case: Case):
    """What ``adapter`` returns for ``case``, run on the engine's own copy of its inputs."""
    data = engine_inputs(case.data())
    return adapter.run(case.spec, adapter.build(case.spec, data.params), data.x, data.initial_state, data.lengths)
