"""The ONNX engines' declarations, each shown on the real tool.

Every unsupported reason and known defect that the adapters in rnn_ref/adapters/onnx/ and
rnn_ref/adapters/converted/ declare quotes what a tool said or did; each test here makes the tool say
or do it again, so a declaration that stops being true fails here (and is revisited) rather
than hiding a regression. They run in the onnx env (tox -e onnx).
"""

from __future__ import annotations

import importlib.metadata
import re

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters.onnx.model import Interface, build_model, feeds, onnx_mapping
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.compare import TOLERANCES, compare
from rnn_ref.core.state import State

pytestmark = pytest.mark.engine

LSTM = RNNSpec("lstm", 3, 5, bidirectional=True)


NO_OPTIONAL_INPUTS = Interface()


def model_of(spec: RNNSpec, dtype=np.float32, interface=NO_OPTIONAL_INPUTS, node_layout=0, seed=0):
    params = Params.random(spec, seed=seed, dtype=dtype)
    return params, build_model(spec, onnx_mapping("onnx", spec).to_native(params), interface, node_layout)


def test_the_model_has_one_node_per_layer_and_the_documented_attributes(engine_or_skip):
    engine_or_skip("onnx")
    import onnx

    spec = RNNSpec("gru", 3, 5, num_layers=2, bidirectional=True, gru_variant="reset_before")
    _, model = model_of(spec)
    nodes = [n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU")]
    assert [n.op_type for n in nodes] == ["GRU", "GRU"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attributes == {"hidden_size": 5, "direction": b"bidirectional", "linear_before_reset": 0}
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer if i.name.startswith("l")}
    assert shapes["l0.W"] == (2, 15, 3) and shapes["l1.W"] == (2, 15, 10)
    assert shapes["l0.R"] == (2, 15, 5) and shapes["l0.B"] == (2, 30)


def test_the_rows_put_gates_where_onnx_expects_them(engine_or_skip):
    """ONNX's LSTM is i o f c and B is [Wb, Rb]: the backward forget-gate block of R sits at
    R[1, 2H:3H] and the backward recurrent input-gate bias at B[1, 4H:5H]."""
    engine_or_skip("onnx")
    params = Params.random(LSTM, seed=3, dtype=np.float32)
    native = onnx_mapping("onnx", LSTM).to_native(params)
    H = LSTM.hidden_size
    np.testing.assert_array_equal(native["l0.R"][1, 2 * H:3 * H], params["l0.bwd.w_hh.f"])
    np.testing.assert_array_equal(native["l0.W"][0, H:2 * H], params["l0.fwd.w_ih.o"])
    np.testing.assert_array_equal(native["l0.B"][1, 4 * H:5 * H], params["l0.bwd.b_hh.i"])


def test_onnxruntime_refuses_batch_major_nodes(engine_or_skip):
    """Why the onnx engine transposes NTC at the model's boundary instead of using layout=1."""
    engine_or_skip("onnx")
    from rnn_ref.adapters.onnx.runtime import ort_session

    _, model = model_of(LSTM.replace(layout="NTC"), node_layout=1)
    with pytest.raises(Exception, match=r"Batchwise recurrent operations \(layout == 1\) are not supported"):
        ort_session(model)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_onnxruntime_has_no_float64_recurrent_kernels(engine_or_skip, mode):
    adapter = engine_or_skip("onnx")
    from rnn_ref.adapters.onnx.runtime import ORT_NO_DOUBLE, ort_session

    spec = RNNSpec(mode, 3, 5)
    _, model = model_of(spec, np.float64)
    said = {"rnn_tanh": r"Could not find an implementation for RNN\(14\)",
            "lstm": "LSTM operator does not support double yet",
            "gru": "GRU operator does not support double yet"}[mode]
    assert re.sub(r"\\", "", said) in ORT_NO_DOUBLE
    with pytest.raises(Exception, match=said):
        ort_session(model).run(None, {"X": np.zeros((2, 1, 3))})
    assert adapter.unsupported_reason(spec, "float64", False) == ORT_NO_DOUBLE


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_the_runtime_writes_zeros_at_padded_steps(runtime, engine_or_skip):
    """The padded-step behaviour the adapter declares (zeros), seen on a bidirectional GRU: onnxruntime,
    and OpenVINO's CPU plugin at static shapes (where it honours the lengths)."""
    adapter = engine_or_skip(runtime)
    case = case_by_id("gru-L1-bi-TNC-len-f32")
    data = case.data()
    output = adapter.run(case.spec, adapter.build(case.spec, data.params), data.x, None, data.lengths)
    padded = np.arange(case.steps)[:, None] >= data.lengths[None, :]
    assert padded.any() and (output.output[padded] == 0).all()
    assert adapter.padded_steps(case.spec) == "zeros"


def test_onnx_reference_has_no_relu_for_rnn(engine_or_skip):
    engine_or_skip("onnx-reference")
    from onnx.reference import ReferenceEvaluator

    _, model = model_of(RNNSpec("rnn_relu", 3, 5))
    with pytest.raises(RuntimeError, match="Unknown activation function 'Relu'"):
        ReferenceEvaluator(model)


def test_onnx_reference_ignores_sequence_lens(engine_or_skip):
    """Minimal reproduction (no upstream report found): with sequence_lens = [1] on a 3-step
    input, Y must be zero after step 0 and Y_h the state after step 0; the evaluator runs all
    three steps, exactly as if sequence_lens were absent."""
    engine_or_skip("onnx-reference")
    from onnx.reference import ReferenceEvaluator

    spec = RNNSpec("rnn_tanh", 2, 3)
    params, model = model_of(spec, np.float64, Interface(lengths=True))
    x = np.random.default_rng(0).standard_normal((3, 1, 2))
    y, y_h = ReferenceEvaluator(model).run(None, {"X": x, "sequence_lens": np.array([1], np.int32)})
    expected = forward(spec, params, x, lengths=[1])
    unpadded = forward(spec, params, x)
    assert not np.allclose(y_h, expected.h_n)  # the defect
    np.testing.assert_allclose(y_h, unpadded.h_n, rtol=0, atol=1e-14)  # ...which is ignoring sequence_lens
    np.testing.assert_allclose(y, unpadded.output, rtol=0, atol=1e-14)


def test_torch_onnx_cannot_export_packed_sequences(engine_or_skip):
    engine_or_skip("torch-onnx")
    import torch

    from rnn_ref.adapters.converted.torch_onnx import EXPORT_NO_PACKED_SEQUENCE, export_to_onnx, exporting_module
    from rnn_ref.adapters.torch.fused import TorchAdapter

    spec = RNNSpec("gru", 3, 5)
    layer = TorchAdapter().build(spec, Params.random(spec, dtype=np.float32))
    module = exporting_module(spec, layer, with_lengths=True)
    said = "zeros(): argument 'size' failed to unpack the object at pos 2"
    assert said in EXPORT_NO_PACKED_SEQUENCE
    with pytest.raises(Exception) as error:
        export_to_onnx(module, (torch.zeros(4, 2, 3), torch.tensor([4, 2])))
    assert said in str(error.value)


def test_torch_onnx_export_drops_the_projection(engine_or_skip):
    """Minimal reproduction (no upstream report found): torch.onnx.export of an LSTM with
    proj_size writes an ONNX LSTM whose hidden_size is P and which has no projection, instead
    of refusing; onnxruntime then refuses the model because c0 has H features, not P."""
    engine_or_skip("torch-onnx")
    import onnx
    import torch

    from rnn_ref.adapters.converted.torch_onnx import export_to_onnx, exporting_module
    from rnn_ref.adapters.onnx.runtime import ort_session
    from rnn_ref.adapters.torch.fused import TorchAdapter

    spec = RNNSpec("lstm", 3, 5, proj_size=2)
    layer = TorchAdapter().build(spec, Params.random(spec, dtype=np.float32))
    model = onnx.load_from_string(export_to_onnx(exporting_module(spec, layer, False), (torch.zeros(4, 1, 3),)))
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in lstm.attribute}
    assert attributes["hidden_size"] == 2  # P, and nothing projects
    with pytest.raises(Exception, match=r"Input initial_c must have shape \{1,1,2\}. Actual:\{1,1,5\}"):
        ort_session(model).run(None, {model.graph.input[0].name: np.zeros((4, 1, 3), np.float32)})


def test_onnx2torch_registers_no_recurrent_converter(engine_or_skip):
    """Read off the installed onnx2torch's ``@add_converter(operation_type=...)`` lines (importing
    it can fail where torchvision is a CUDA build); when RNN, LSTM or GRU appears there, the
    onnx2torch engine's declaration is stale."""
    engine_or_skip("onnx2torch")
    files = importlib.metadata.files("onnx2torch")
    sources = [f.read_text() for f in files if str(f).startswith("onnx2torch/node_converters/") and f.suffix == ".py"]
    registered = {m for text in sources for m in re.findall(r"add_converter\(\s*operation_type='(\w+)'", text)}
    assert "Conv" in registered and "MatMul" in registered  # the scan does find converters
    assert not registered & {"RNN", "LSTM", "GRU"}


@pytest.mark.parametrize("engine_name", ["onnx", "onnx-reference"])
def test_initial_states_of_every_layer_reach_their_node(engine_or_skip, engine_name):
    """A 3-layer bidirectional LSTM with distinct h0/c0 per unit: the slices the model takes
    (and, for batch-major nodes, transposes) hand each node its own two directions."""
    adapter = engine_or_skip(engine_name)
    spec = RNNSpec("lstm", 3, 4, num_layers=3, bidirectional=True, layout="NTC")
    params = Params.random(spec, seed=5, dtype=np.float32)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    state = State(*(rng.standard_normal((6, 2, 4)).astype(np.float32) for _ in range(2)))
    result = adapter.run(spec, adapter.build(spec, params), x, state)
    expected = forward(spec, params, x, state)
    for name in ("output", "h_n", "c_n"):
        comparison = compare(name, getattr(result, name), getattr(expected, name), TOLERANCES["float32"])
        assert comparison.passed, comparison.describe()
    assert feeds(spec, x, state, None).keys() == {"X", "initial_h", "initial_c"}


def test_tf2onnx_turns_an_unmasked_lstm_into_an_lstm_node_onnxruntime_cannot_run_in_float64(engine_or_skip):
    adapter = engine_or_skip("keras-tf2onnx")
    import onnx

    from rnn_ref.adapters.converted.keras_tf2onnx import LSTM_NODE_NO_DOUBLE, convert
    from rnn_ref.adapters.onnx.runtime import ort_session

    spec = RNNSpec("lstm", 3, 4, layout="NTC")
    layer = adapter.build(spec, Params.random(spec, dtype=np.float64)).native  # the keras engine's layers
    model = onnx.load_from_string(convert(spec, layer, np.float64, with_state=False, with_lengths=False))
    assert "LSTM" in [node.op_type for node in model.graph.node]
    assert "LSTM operator does not support double yet" in LSTM_NODE_NO_DOUBLE
    with pytest.raises(Exception, match="LSTM operator does not support double yet"):
        ort_session(model).run(None, {model.graph.input[0].name: np.zeros((1, 2, 3))})


@pytest.mark.parametrize("case_id", ["lstm-L1-uni-NTC-h0-len-f64", "gru-L2-bi-TNC-len-f32"])
def test_tf2onnx_keeps_the_masked_keras_semantics(engine_or_skip, case_id):
    """A masked LSTM in float64 (an ONNX Loop, so float64 runs) repeats its last output at padded
    steps, a masked bidirectional GRU writes zeros there: Keras's own behaviour, converted."""
    adapter = engine_or_skip("keras-tf2onnx")
    from rnn_ref.judge.runner import PASS, run_case

    result = run_case(adapter, case_by_id(case_id))
    assert result.status == PASS, result.report()
    assert any(c.tensor.startswith("output at padded steps") for c in result.comparisons)


def test_onnx_reference_fails_on_the_export_without_projection(engine_or_skip):
    """Minimal reproduction (no upstream report found): the export of an LSTM with proj_size,
    which has no projection (test_torch_onnx_export_drops_the_projection), run on onnx.reference:
    the evaluator fails with a NumPy broadcast error, where onnxruntime refuses the model."""
    engine_or_skip("torch-onnx-reference")
    import onnx
    import torch
    from onnx.reference import ReferenceEvaluator

    from rnn_ref.adapters.converted.torch_onnx import export_to_onnx, exporting_module
    from rnn_ref.adapters.torch.fused import TorchAdapter

    spec = RNNSpec("lstm", 3, 5, proj_size=2)
    layer = TorchAdapter().build(spec, Params.random(spec, dtype=np.float32))
    model = onnx.load_from_string(export_to_onnx(exporting_module(spec, layer, False), (torch.zeros(4, 1, 3),)))
    with pytest.raises(ValueError, match="operands could not be broadcast together"):
        ReferenceEvaluator(model).run(None, {model.graph.input[0].name: np.zeros((4, 1, 3), np.float32)})


def test_torch_onnx_reference_runs_float64_which_onnxruntime_cannot(engine_or_skip):
    """The exporter writes float64 models correctly: torch-onnx's float64 limit is onnxruntime's
    (ORT_NO_DOUBLE), so the same export on onnx.reference matches the reference in float64."""
    engine_or_skip("torch-onnx-reference")
    from rnn_ref.adapters.engine_registry import load_adapter
    from rnn_ref.core.compare import TOLERANCES, compare
    from rnn_ref.oracle.forward import forward

    adapter = load_adapter("torch-onnx-reference")
    assert load_adapter("torch-onnx").unsupported_reason(RNNSpec("lstm", 3, 4), "float64", False) is not None
    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True)
    params = Params.random(spec, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    got, want = adapter.run(spec, adapter.build(spec, params), x), forward(spec, params, x)
    for tensor in ("output", "h_n", "c_n"):
        comparison = compare(tensor, getattr(got, tensor), getattr(want, tensor), TOLERANCES["float64"])
        assert comparison.passed, comparison.describe()


def test_the_exporter_unrolls_a_relu_rnn_so_onnx_reference_runs_it(engine_or_skip):
    """torch.onnx.export writes nn.RNN(nonlinearity="relu") as MatMul / Add / Relu nodes, no ONNX RNN
    node: the evaluator's RNN op, which knows Tanh and Affine only (NO_RELU), is never asked."""
    engine_or_skip("torch-onnx-reference")
    import onnx
    import torch

    from rnn_ref.adapters.converted.torch_onnx import export_to_onnx, exporting_module
    from rnn_ref.adapters.torch.fused import TorchAdapter

    spec = RNNSpec("rnn_relu", 3, 4)
    layer = TorchAdapter().build(spec, Params.random(spec, dtype=np.float32))
    model = onnx.load_from_string(export_to_onnx(exporting_module(spec, layer, False), (torch.zeros(5, 1, 3),)))
    ops = {node.op_type for node in model.graph.node}
    assert "RNN" not in ops and {"MatMul", "Relu"} <= ops, ops
