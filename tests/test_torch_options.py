"""torch's one option: RNN's ``nonlinearity``. Every other option of the spec is a limit.

``torch.nn.RNN(nonlinearity=...)`` (and ``RNNCell``) is the mode (``rnn_tanh``, ``rnn_relu``);
a spec that names its RNN activation instead (``mode="rnn_tanh", activations=("Relu",)``: the
spec does not rewrite it as ``rnn_relu``) describes the same layer, so torch runs it with that
nonlinearity. Everything else (other activations, LSTM and GRU activations, clip, peepholes,
input_forget, reverse, merge modes) has no torch equivalent: one limit, ``NO_OPTIONS``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnn_ref import RNNSpec
from rnn_ref.adapters.torch.fused import NO_OPTIONS

ENGINES = ["torch", "torch-cell"]


@pytest.mark.engine
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("case_id", "named"), [("rnn_tanh-L2-bi-NTC-h0-len-f64", "Relu"),
                                                ("rnn_relu-L1-uni-TNC-h0-f32", "Tanh")])
def test_an_rnn_that_names_its_activation_runs_as_the_nonlinearity_of_that_name(engine, case_id, named,
                                                                                 engine_or_skip):
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_case, run_gradient_case

    adapter = engine_or_skip(engine)
    plain = case_by_id(case_id)
    case = dataclasses.replace(plain, spec=plain.spec.replace(activations=(named,)))
    assert case.spec.options == ("activations",)
    for run in (run_case, run_gradient_case):
        result = run(adapter, case)
        assert result.status == PASS, result.report()
    # the same torch layer as the mode of that name
    twin = case.spec.replace(mode=f"rnn_{named.lower()}", activations=None, activation_alpha=None,
                             activation_beta=None)
    data = case.data()
    got = adapter.run(case.spec, adapter.build(case.spec, data.params), data.x, data.initial_state, data.lengths)
    same = adapter.run(twin, adapter.build(twin, data.params), data.x, data.initial_state, data.lengths)
    np.testing.assert_array_equal(got.output, same.output)


@pytest.mark.parametrize("fields", [
    dict(mode="rnn_tanh", activations=("Elu",)),
    dict(mode="rnn_relu", activations=("Relu",), reverse=True),  # the nonlinearity, but reverse as well
    dict(mode="lstm", activations=("Sigmoid", "Relu", "Relu")),
    dict(mode="gru", clip=1.0),
    dict(mode="lstm", peepholes=True),
    dict(mode="lstm", input_forget=True),
    dict(mode="gru", reverse=True),
    dict(mode="rnn_tanh", bidirectional=True, merge_mode="sum"),
], ids=lambda fields: "-".join(f"{k}={v}" for k, v in fields.items()))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_other_option_is_the_one_limit(engine, fields):
    from rnn_ref.adapters.engine_registry import adapter_object

    spec = RNNSpec(input_size=3, hidden_size=4, **fields)
    assert adapter_object(engine).expectation(spec, "float32", False).unsupported == NO_OPTIONS


@pytest.mark.engine
@pytest.mark.parametrize("nonlinearity", ["sigmoid", "hardsigmoid", "elu"])
def test_torch_rnn_takes_no_nonlinearity_but_tanh_and_relu(nonlinearity, engine_or_skip):
    """torch.nn.RNN refuses any other when built; RNNCell builds, and refuses it when first called."""
    engine_or_skip("torch")
    import torch

    with pytest.raises(ValueError, match=f"Unknown nonlinearity '{nonlinearity}'"):
        torch.nn.RNN(3, 4, nonlinearity=nonlinearity)
    cell = torch.nn.RNNCell(3, 4, nonlinearity=nonlinearity)
    with pytest.raises(RuntimeError, match=f"Unknown nonlinearity: {nonlinearity}"):
        cell(torch.zeros(2, 3))
