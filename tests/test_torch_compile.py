"""torch.compile and the recurrent layers (torch 2.13, CPU, inductor): what it does, pinned on the installed torch.

* Without ``torch._dynamo.config.allow_rnn`` (False by default) dynamo does not trace into
  ``nn.RNN/LSTM/GRU``: it graph-breaks ("Attempted to wrap RNN, GRU, or LSTM") and runs the layer
  eagerly. Nothing is compiled (dynamo's ``unique_graphs`` counter stays 0), no error, no warning:
  ``torch.compile(layer)`` silently is the eager layer. ``fullgraph=True`` raises instead.
* With ``allow_rnn=True`` inductor compiles the layer (``fullgraph=True`` holds); a small live
  subset, forward and backward, float32 and float64, is judged against the reference here.
* Known defect, with ``allow_rnn=True``: a float32 LSTM (oneDNN's ``mkldnn_rnn_layer`` on CPU) compiled
  while gradients are enabled crashes when its input needs no gradient (the parameters do), as real
  training data does: inductor's code raises ``TypeError: expected Tensor() for op:
  torch.ops.aten.mkldnn_rnn_layer.default`` (aot_eager an AssertionError). Upstream: pytorch/pytorch#158007
  (open); PR pytorch/pytorch#185163 (open, not in 2.13.0) names the null oneDNN workspace.

Each compile costs seconds to a minute of CPU, so the live subset is two cases; these tests run
where the ``torch`` engine is selected (the torch env). torch.compile is not a matrix engine here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnn_ref.adapters.adapter import PADDED_ZEROS
from rnn_ref.cases.cotangents import case_cotangents
from rnn_ref.cases.defects import KnownDefectReproduced, raises_as_declared
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.compare import GRADIENT_TOLERANCES, TOLERANCES
from rnn_ref.core.params import Params
from rnn_ref.core.state import RNNOutput
from rnn_ref.judge.runner import reference_gradients
from rnn_ref.judge.tensors import judge, judge_gradients
from rnn_ref.oracle.forward import forward

pytestmark = pytest.mark.engine

WRAP_RNN = "Attempted to wrap RNN, GRU, or LSTM"


@pytest.fixture()
def dynamo(engine_or_skip):
    """torch._dynamo with a clean cache and counters; allow_rnn is put back afterwards (its config
    is a module of its own: monkeypatch cannot restore it)."""
    engine_or_skip("torch")
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    shipped = torch._dynamo.config.allow_rnn
    try:
        yield torch._dynamo
    finally:
        torch._dynamo.config.allow_rnn = shipped
        torch._dynamo.reset()


def test_torch_ships_with_allow_rnn_off(dynamo):
    """The default these tests are about; PR pytorch/pytorch#185163 would flip it (then revisit this file)."""
    assert dynamo.config.allow_rnn is False


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_without_allow_rnn_compile_silently_runs_the_layer_eagerly(dynamo, cls):
    import torch
    from torch._dynamo.utils import counters

    layer = getattr(torch.nn, cls)(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        compiled, eager = torch.compile(layer, backend="inductor")(x)[0], layer(x)[0]
    assert counters["stats"]["unique_graphs"] == 0, dict(counters["stats"])  # nothing was compiled
    assert any(WRAP_RNN in reason for reason in counters["graph_break"]), dict(counters["graph_break"])
    assert torch.equal(compiled, eager)  # the eager kernel's own numbers, bit for bit
    dynamo.reset()
    with pytest.raises(dynamo.exc.Unsupported, match=WRAP_RNN):
        torch.compile(layer, backend="inductor", fullgraph=True)(x)


def compiled_case(dynamo, case_id: str):
    """``case_id`` run by ``torch.compile(layer, backend="inductor", fullgraph=True)`` with allow_rnn, forward and
    backward, and the reference's: (spec, engine output, reference output, engine gradients, their canonical
    blocks, reference gradients)."""
    import torch
    from torch._dynamo.utils import counters

    from rnn_ref.adapters.torch.fused import TorchAdapter, autograd_gradients, run_fused

    dynamo.config.allow_rnn = True
    case = case_by_id(case_id)
    spec, data, cot = case.spec, case.data(), case_cotangents(case)
    adapter = TorchAdapter()
    layer = adapter.build(spec, data.params)
    compiled = torch.compile(layer, backend="inductor", fullgraph=True)
    inputs = torch.from_numpy(data.x.copy()).requires_grad_()
    states = [] if data.initial_state is None else [torch.from_numpy(s.copy()).requires_grad_()
                                                    for s in data.initial_state if s is not None]
    hx = None if not states else (tuple(states) if spec.has_cell_state else states[0])
    results = run_fused(spec, compiled, inputs, hx, None)
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"], dict(counters["graph_break"])
    output = RNNOutput(*(None if r is None else r.detach().numpy() for r in results))
    grads = autograd_gradients(spec, layer, inputs, states, results, cot)
    canonical = adapter.mapping(spec).gradients_to_params(grads.native)
    expected = reference_gradients(spec, data.params, data.x, data.initial_state, None, cot)
    return spec, output, forward(spec, data.params, data.x, data.initial_state), grads, canonical, expected


# the live subset, two compiles (forward and backward; cold cache: 10-20 s of CPU each): a float32 bidirectional
# RNN (TNC) and a float64 GRU (NTC), both with initial states. The float32 LSTM is compiled by the xfail below.
@pytest.mark.parametrize("case_id", ["rnn_tanh-L1-bi-TNC-h0-f32", "gru-L1-uni-NTC-h0-f64"])
def test_with_allow_rnn_inductor_compiles_the_layer_and_matches_the_reference(dynamo, case_id):
    spec, output, reference, grads, canonical, expected = compiled_case(dynamo, case_id)
    dtype = np.dtype(output.output.dtype).name
    comparisons = judge(spec, output, reference, None, PADDED_ZEROS, TOLERANCES[dtype])
    comparisons += judge_gradients(spec, grads, canonical, expected, None, GRADIENT_TOLERANCES[dtype])
    failed = [c.describe() for c in comparisons if not c.passed]
    assert not failed, "\n".join(failed)
    # the same judgement fails a wrong value: the reference's first w_hh gradient scaled by 1.01
    key = next(k for k in expected.params if ".w_hh." in k)
    wrong = dataclasses.replace(expected, params=Params(spec, {**expected.params, key: expected.params[key] * 1.01}))
    assert any(not c.passed for c in judge_gradients(spec, grads, canonical, wrong, None, GRADIENT_TOLERANCES[dtype]))


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced,
                   reason="pytorch/pytorch#158007 (PR #185163 not in 2.13.0): compiled float32 LSTM crashes in "
                          "training mode when its input needs no gradient")
def test_compiled_float32_lstm_runs_when_its_input_needs_no_gradient(dynamo):
    import torch

    dynamo.config.allow_rnn = True
    layer = torch.nn.LSTM(3, 4)  # its parameters need gradients, as in training
    x = torch.randn(5, 2, 3)  # data: no gradient
    with raises_as_declared("pytorch/pytorch#158007", TypeError, "mkldnn_rnn_layer"):
        output, _ = torch.compile(layer, backend="inductor", fullgraph=True)(x)
        np.testing.assert_allclose(output.detach().numpy(), layer(x)[0].detach().numpy(), rtol=0, atol=1e-6)
