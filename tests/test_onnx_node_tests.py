"""ONNX's own node tests for RNN, LSTM and GRU, checked against the NumPy reference.

The cases are those ``onnx.backend.test`` generates for the installed onnx version (its
``onnx/backend/test/case/node/{rnn,lstm,gru}.py``: a one-node model, inputs and expected
outputs computed by ONNX's own NumPy code). Each is read through the same reader as an
``.onnx`` file (rnn_ref/adapters/onnx/files.py: W, R, B into canonical params through the onnx rows),
run by ``rnn_ref.oracle.forward.forward`` and compared with ONNX's expected outputs at the
float32 tolerance. The reader takes each node's options into the spec (``direction="reverse"``,
peepholes ``P``, activations, clip, input_forget: rnn_ref/adapters/onnx/options.py), so every
case ONNX ships is expressible: one the reader refused would fail here, naming why.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest

from rnn_ref.core.compare import TOLERANCES, compare
from rnn_ref.core.state import State
from rnn_ref.oracle.forward import forward

pytestmark = pytest.mark.engine

RECURRENT = ("RNN", "LSTM", "GRU")


def node_test_cases() -> dict[str, object]:
    """ONNX's generated test cases of the recurrent ops, by name (empty without onnx).

    Importing ``onnx.backend.test.case.node.{rnn,lstm,gru}`` runs their ``export_*`` functions,
    which append to the package's ``_NodeTestCases`` (what ``collect_testcases`` returns after
    importing every op's module, about 16 s; these three take well under one).
    """
    if importlib.util.find_spec("onnx") is None:
        return {}
    cases = importlib.import_module("onnx.backend.test.case.node")
    for module in ("rnn", "lstm", "gru"):
        importlib.import_module(f"onnx.backend.test.case.node.{module}")
    return {case.name: case for case in cases._NodeTestCases if case.model.graph.node[0].op_type in RECURRENT}


CASES = node_test_cases()
NAMES = list(CASES) or [pytest.param(None, marks=pytest.mark.skip(reason="onnx is not installed: run tox -e onnx"))]


def with_weights_stored(model, inputs):
    """The test model with its W, R, B, P inputs turned into initializers holding the test's data."""
    import onnx
    from onnx import numpy_helper

    stored = onnx.ModelProto()
    stored.CopyFrom(model)
    node = stored.graph.node[0]
    weight_positions = {1, 2, 3, 7}  # W, R, B, and P for LSTM
    fed = dict(zip([name for name in node.input if name], inputs, strict=True))
    names = [node.input[i] for i in weight_positions if i < len(node.input) and node.input[i]]
    stored.graph.initializer.extend(numpy_helper.from_array(fed[name], name) for name in names)
    return stored, fed


def canonical_layout(array, layout: int, sequence: bool):
    """ONNX Y (T, D, N, H) / (N, T, D, H) -> (T, N, D·H) / (N, T, D·H); Y_h (D, N, H) / (N, D, H) -> (D, N, H)."""
    if sequence:
        by_time = array if layout == 0 else array.transpose(1, 2, 0, 3)  # (T, D, N, H)
        merged = by_time.transpose(0, 2, 1, 3).reshape(by_time.shape[0], by_time.shape[2], -1)
        return merged if layout == 0 else merged.transpose(1, 0, 2)
    return array if layout == 0 else array.transpose(1, 0, 2)


@pytest.mark.parametrize("name", NAMES)
def test_onnx_node_test_matches_the_reference(name, engine_or_skip):
    engine_or_skip("onnx-reference")
    from rnn_ref.adapters.onnx.files import attributes_of, layer_of_model
    from rnn_ref.adapters.onnx.model import onnx_mapping

    case = CASES[name]
    inputs, outputs = case.data_sets[0]
    model, fed = with_weights_stored(case.model, inputs)
    node = model.graph.node[0]
    layer = layer_of_model(name, model)  # a ParamsError (the reader refused the node) fails the test with its reason
    layout = attributes_of(node).get("layout", 0)
    w, r = layer.arrays["l0.W"], layer.arrays["l0.R"]
    spec = layer.spec(w.shape[2], r.shape[2], layout="NTC" if layout else "TNC")
    params = onnx_mapping("onnx", spec).to_params(layer.arrays)

    def given(position):
        return fed.get(node.input[position]) if len(node.input) > position and node.input[position] else None

    h0, c0 = given(5), given(6) if layer.mode == "lstm" else None
    state = None
    if h0 is not None or c0 is not None:
        zeros = np.zeros((spec.num_directions, fed[node.input[0]].shape[1 - layout], spec.hidden_size), w.dtype)
        state = State(zeros if h0 is None else canonical_layout(h0, layout, False),
                      None if layer.mode != "lstm" else zeros if c0 is None else canonical_layout(c0, layout, False))
    lengths = given(4)
    result = forward(spec, params, fed[node.input[0]], state, lengths)
    tolerance = TOLERANCES[str(w.dtype)]
    produced = dict(zip([name for name in node.output if name], outputs, strict=True))
    checks = []
    for output_name, ours, sequence in (("Y", result.output, True), ("Y_h", result.h_n, False),
                                        ("Y_c", result.c_n, False)):
        position = ("Y", "Y_h", "Y_c").index(output_name)
        if len(node.output) > position and node.output[position] in produced:
            expected = canonical_layout(produced[node.output[position]], layout, sequence)
            checks.append(compare(output_name, ours, expected, tolerance))
    assert checks, f"{name}: no output to compare"
    failed = [c.describe() for c in checks if not c.passed]
    assert not failed, f"ONNX node test {name} ({spec}) disagrees with the reference: {failed}"
