"""Keras runs a TNC case and its NTC twin once: the second is found in the adapter's memo.

Keras is batch-major only: the adapter transposes a TNC case at its boundary, so Keras computes
a TNC case as the NTC computation on the transposed input. A TNC case holds its NTC twin's
numbers (``Case.data_id``, tests/test_cases.py), so after the adapter's transposes both hand
Keras identical layers, weights, inputs and cotangents, and ``KerasAdapter`` answers the second
from a memo keyed by those bytes (rnn_ref/adapters/_support/run_memo.py). The adapter's transposes run
every time; inputs that differ anywhere run Keras again.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnn_ref import Params
from rnn_ref.cases.matrix import Case, case_by_id
from rnn_ref.judge.runner import PASS, execute_case, execute_gradient_case

pytestmark = pytest.mark.engine


def twins(steps: int) -> tuple[Case, Case]:
    """A TNC case and its NTC twin. Each test takes its own number of steps: not a matrix case (6
    steps), nor another test's, whose forward a gradient run could have left in the runner's store
    (rnn_ref.judge.runner.ForwardsOfGradientRuns)."""
    tnc = dataclasses.replace(case_by_id("gru-L2-bi-TNC-h0-len-f32"), steps=steps)
    return tnc, tnc.ntc_twin


TNC, NTC = twins(5)


#: The forward memo serves every backend; gradients are taken on TensorFlow only.
KERAS_ENGINES = ("keras", "keras-jax", "keras-torch")


@pytest.fixture
def counting(engine_or_skip, monkeypatch):
    """``counting(engine)``: a fresh adapter of that Keras engine (an empty memo) and the list of
    the layouts of the cases it ran the Keras layers for."""

    def make(engine: str):
        adapter = type(engine_or_skip(engine))()
        calls = []
        forward_tensors = adapter.forward_tensors

        def counted(*args, **kwargs):
            calls.append(args[0].layout)
            return forward_tensors(*args, **kwargs)

        monkeypatch.setattr(adapter, "forward_tensors", counted)
        return adapter, calls

    return make


@pytest.fixture
def counted(counting):
    return counting("keras")


def test_the_tnc_case_takes_its_twins_gradient_run_transposed(counted):
    adapter, calls = counted
    ntc = execute_gradient_case(adapter, NTC)
    tnc = execute_gradient_case(adapter, TNC)
    assert calls == ["NTC"]  # Keras ran once, for the twin that came first
    assert ntc.result.status == PASS and tnc.result.status == PASS
    np.testing.assert_array_equal(tnc.gradients.x, ntc.gradients.x.transpose(1, 0, 2))
    np.testing.assert_array_equal(tnc.gradients.output.output, ntc.gradients.output.output.transpose(1, 0, 2))
    for name, value in ntc.gradients.native.items():
        np.testing.assert_array_equal(tnc.gradients.native[name], value)


@pytest.mark.parametrize("engine", KERAS_ENGINES)
def test_the_tnc_case_takes_its_twins_forward_run_transposed(counting, engine):
    adapter, calls = counting(engine)
    tnc_case, ntc_case = twins(4)
    ntc, tnc = execute_case(adapter, ntc_case), execute_case(adapter, tnc_case)
    assert calls == ["NTC"]
    assert ntc.result.status == PASS and tnc.result.status == PASS
    np.testing.assert_array_equal(tnc.output.output, ntc.output.output.transpose(1, 0, 2))
    np.testing.assert_array_equal(tnc.output.h_n, ntc.output.h_n)


@pytest.mark.parametrize("engine", KERAS_ENGINES)
def test_a_reshape_where_the_transpose_was_meant_runs_keras_again(counting, engine):
    """What a layout bug in an adapter would hand Keras differs from the twin's bytes: no memo hides it."""
    adapter, calls = counting(engine)
    data = NTC.data()
    layer = adapter.build(NTC.spec, data.params)
    twin = adapter.run(NTC.spec, layer, data.x, data.initial_state, data.lengths)
    reshaped = np.ascontiguousarray(data.x).reshape(TNC.steps, TNC.batch, -1)  # not data.x.transpose(1, 0, 2)
    wrong = adapter.run(TNC.spec, layer, reshaped, data.initial_state, data.lengths)
    assert calls == ["NTC", "TNC"]
    assert not np.array_equal(wrong.output.transpose(1, 0, 2), twin.output)


@pytest.mark.parametrize("engine", KERAS_ENGINES)
def test_new_weights_in_a_reused_layer_run_keras_again(counting, engine):
    adapter, calls = counting(engine)
    data = NTC.data()
    first = adapter.run(NTC.spec, adapter.build(NTC.spec, data.params), data.x, data.initial_state, data.lengths)
    changed = data.params["l1.bwd.w_hh.z"].astype(np.float32)  # a writable copy: Params blocks are read-only
    changed[0, 0] += 0.25  # one entry
    params = Params(NTC.spec, {**data.params.astype(np.float32), "l1.bwd.w_hh.z": changed})
    layer = adapter.build(NTC.spec, params)  # the same Keras layers (the last holder is gone), new weights
    second = adapter.run(NTC.spec, layer, data.x, data.initial_state, data.lengths)
    assert calls == ["NTC", "NTC"]
    assert not np.array_equal(first.output, second.output)


@pytest.mark.parametrize("engine", KERAS_ENGINES)
def test_an_initial_state_or_lengths_given_or_not_run_keras_again(counting, engine):
    """Zeros for h0 compute what no h0 computes, full lengths what no lengths compute: the memo
    still keeps them apart, since the engine runs another path (its own zero state, a mask)."""
    adapter, calls = counting(engine)
    _, ntc = twins(3)
    data = ntc.data()
    layer = adapter.build(ntc.spec, data.params)
    for state in (data.initial_state, None):
        for lengths in (data.lengths, None):
            adapter.run(ntc.spec, layer, data.x, state, lengths)
    assert calls == ["NTC"] * 4
