"""Every selected engine's autodiff against the reference backward, over the whole case matrix.

For each (engine, case): the case's weights go into the engine through its mapping rows, and
the engine's own autodiff (torch.autograd, tf.GradientTape, mx.autograd) differentiates
``sum(cot.output·output) + sum(cot.h_n·h_n) + sum(cot.c_n·c_n)`` with cotangents seeded from
the case id (a TNC case's are its NTC twin's, transposed: rnn_ref.cases.cotangents). The gradients of x (existing steps; exactly zero at padded
steps), of the given initial states and of every native parameter — brought back to canonical
blocks through the same rows (a one-bias engine's bias gradient is each summand's) — must
match rnn_ref.oracle.backward within GRADIENT_TOLERANCES of the case's dtype. Ids end in ``-grad``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.adapters import load_adapter
from rnn_ref.adapters.adapter import GRADIENTS_NOT_IMPLEMENTED
from rnn_ref.cases.cotangents import case_cotangents
from rnn_ref.cases.matrix import all_cases
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.judge.runner import DEFECT_GONE, FAIL, KNOWN_DEFECT, PASS, KnownDefectReproduced, run_gradient_case
from rnn_ref.results.pytest_results import keep_verdict
from rnn_ref.results.records import GRADIENTS

pytestmark = pytest.mark.gradients


def test_engine_gradients_match_reference(engine, case, request):
    """A known gradient defect carries a strict xfail, exactly as in test_equivalence.py."""
    result = run_gradient_case(load_adapter(engine), case)
    keep_verdict(request, result, GRADIENTS)
    if result.status == KNOWN_DEFECT:
        raise KnownDefectReproduced(f"{result.reason}:\n{result.report()}")
    if result.status == DEFECT_GONE:
        return
    assert result.status == PASS, result.report() if result.status == FAIL else result.reason


def test_every_declared_gradient_limit_is_hit_by_some_case(engine):
    adapter = load_adapter(engine)
    reasons = {adapter.gradient_unsupported_reason(c.spec, c.dtype, c.with_lengths) for c in all_cases()}
    assert set(adapter.gradient_limits) <= reasons, set(adapter.gradient_limits) - reasons
    declared = set(adapter.limits) | set(adapter.gradient_limits) | {GRADIENTS_NOT_IMPLEMENTED}
    # besides its limits, a case may be unsupported for an option the adapter does not declare
    undeclared = {limit.reason for limit in adapter.option_limits}
    assert reasons - {None} - undeclared <= declared, "gradient_unsupported_reason gave a reason not declared"


def test_a_gradient_limit_is_refused_by_the_engine(engine):
    """A gradient-only limit is real: run_gradients raises UnsupportedCase, never a wrong answer."""
    adapter = load_adapter(engine)
    for reason in adapter.gradient_limits:
        case = next(c for c in all_cases()
                    if adapter.gradient_unsupported_reason(c.spec, c.dtype, c.with_lengths) == reason)
        data = case.data()
        layer = adapter.build(case.spec, data.params)
        with pytest.raises(UnsupportedCase, match=r"^" + engine):
            adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths, case_cotangents(case))


def test_gradients_come_back_for_every_native_parameter(engine):
    """The native gradients are keyed exactly like the native weights (no parameter dropped)."""
    adapter = load_adapter(engine)
    case = next((c for c in all_cases() if adapter.gradient_unsupported_reason(c.spec, c.dtype, c.with_lengths) is None
                 and c.spec.num_layers == 2 and c.spec.bidirectional), None)
    if case is None:
        first = all_cases()[0]
        pytest.skip(f"{engine} differentiates no case: "
                    f"{adapter.gradient_unsupported_reason(first.spec, first.dtype, first.with_lengths)}")
    data = case.data()
    layer = adapter.build(case.spec, data.params)
    got = adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths, case_cotangents(case))
    native = adapter.native_arrays(case.spec, layer)
    assert list(got.native) == list(native)
    assert all(got.native[name].shape == native[name].shape and got.native[name].any() for name in native)
    assert got.x.shape == data.x.shape and np.asarray(got.x).dtype == data.x.dtype
