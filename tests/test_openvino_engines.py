"""The OpenVINO engines' declarations, each shown on the real runtime (tox -e openvino).

rnn_ref/adapters/onnx/openvino.py compiles the onnx engine's model with OpenVINO's CPU plugin.
Each known defect it declares has a minimal reproduction here, in a few lines of openvino,
and the precision hint it always sets is shown to matter where the CPU has avx512_bf16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters.onnx.model import Interface, build_model, onnx_mapping
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.compare import TOLERANCES, compare

pytestmark = pytest.mark.engine


def lstm_with_lengths(dtype=np.float32):
    """A one-layer LSTM (I=3, H=4) with sequence_lens, its params and a (T=5, N=2) input of lengths [5, 2]."""
    spec = RNNSpec("lstm", 3, 4)
    params = Params.random(spec, seed=0, dtype=dtype)
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params), Interface(lengths=True))
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(dtype)
    return spec, params, model, {"X": x, "sequence_lens": np.array([5, 2], np.int32)}


def compiled(model, inputs=None, config=None):
    """OpenVINO's CPU compile of an ONNX model: reshaped to ``inputs``' shapes (static) when given."""
    import openvino

    core = openvino.Core()
    read = core.read_model(model.SerializeToString(), b"")
    if inputs is not None:
        read.reshape({name: openvino.PartialShape(list(value.shape)) for name, value in inputs.items()})
    return core.compile_model(read, "CPU", {"INFERENCE_NUM_THREADS": 1} if config is None else config)


def outputs(model, inputs):
    result = model(inputs)
    return [np.array(result[output]) for output in model.outputs]


def test_openvino_dynamic_shapes_ignore_sequence_lens(engine_or_skip):
    """Minimal reproduction (no upstream report found): one LSTM node with sequence_lens [5, 2].
    Compiled at static shapes, OpenVINO honours the lengths; compiled with the model's dynamic
    dims (N, T), it runs every sample over all 5 steps: the result is the reference without lengths."""
    engine_or_skip("openvino-dynamic")
    spec, params, model, inputs = lstm_with_lengths()
    f32 = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    static = outputs(compiled(model, inputs, f32), inputs)
    dynamic = outputs(compiled(model, None, f32), inputs)
    honoured = forward(spec, params, inputs["X"], lengths=[5, 2])
    ignored = forward(spec, params, inputs["X"])
    np.testing.assert_allclose(static[1], honoured.h_n, atol=1e-6)
    assert (static[0][2:, 1] == 0).all()  # zeros after the second sample's length
    assert np.abs(dynamic[1] - honoured.h_n).max() > 1e-2  # the defect...
    np.testing.assert_allclose(dynamic[1], ignored.h_n, atol=1e-6)  # ...which is ignoring sequence_lens
    np.testing.assert_allclose(dynamic[0].reshape(5, 2, 4), ignored.output, atol=1e-6)


def test_openvino_computes_float64_in_float32(engine_or_skip):
    """Minimal reproduction: a float64 LSTM model compiles and returns float64 tensors, whose
    error is float32's (1e-8 to 1e-6), never float64's (1e-15)."""
    engine_or_skip("openvino")
    spec, params, model, inputs = lstm_with_lengths(np.float64)
    y, y_h, _ = outputs(compiled(model, inputs, {"INFERENCE_PRECISION_HINT": "f32"}), inputs)
    expected = forward(spec, params, inputs["X"], lengths=[5, 2])
    assert y.dtype == np.float64
    error = np.abs(y_h - expected.h_n).max()
    assert 1e-10 < error < 1e-6, error


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def test_openvino_defaults_to_bf16_on_avx512_bf16_cpus(engine_or_skip):
    """Why both engines set INFERENCE_PRECISION_HINT=f32: without it, on a CPU with avx512_bf16,
    the CPU plugin infers in bf16 and a float32 LSTM is off by ~1e-3 (far outside float32's
    tolerance); with the hint the same model is float32-accurate."""
    engine_or_skip("openvino")
    if "avx512_bf16" not in cpu_flags():
        pytest.skip("this CPU has no avx512_bf16 (/proc/cpuinfo flags): OpenVINO's CPU default is f32 here")
    import openvino

    assert openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT") == openvino.Type.bf16
    spec, params, model, inputs = lstm_with_lengths()
    expected = forward(spec, params, inputs["X"], lengths=[5, 2]).output
    default = outputs(compiled(model, inputs), inputs)[0].reshape(expected.shape)
    hinted = outputs(compiled(model, inputs, {"INFERENCE_PRECISION_HINT": "f32"}), inputs)[0].reshape(expected.shape)
    assert np.abs(default - expected).max() > 1e-4
    assert compare("output", hinted, expected, TOLERANCES["float32"]).passed


@pytest.mark.parametrize("static", [True, False])
def test_both_engines_compile_with_the_f32_hint(engine_or_skip, static):
    """The compile both engines use, its property read back: f32 whatever the CPU's default."""
    engine_or_skip("openvino" if static else "openvino-dynamic")
    import openvino

    from rnn_ref.adapters.onnx.openvino import compile_onnx

    _, _, model, inputs = lstm_with_lengths()
    model = compile_onnx(model, inputs if static else None)
    assert model.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    assert model.inputs[0].get_partial_shape().is_static is static


def test_a_tnc_case_and_its_ntc_twin_compile_one_model(engine_or_skip):
    """The NTC case runs as its TNC model (OpenVINO ignores layout=1, openvinotoolkit/openvino#37820),
    transposed at the adapter's boundary: the twins hold the same numbers, so the second compiles nothing."""
    adapter = engine_or_skip("openvino")
    from rnn_ref.adapters.onnx.openvino import COMPILED

    def run(case_id):
        case = case_by_id(case_id)
        data = case.data()
        layer = adapter.build(case.spec, data.params)
        return adapter.run(case.spec, layer, data.x, data.initial_state, data.lengths)

    batch_major = run("lstm-L2-bi-NTC-h0-len-f32")
    compiles = COMPILED.conversions
    steps_first = run("lstm-L2-bi-TNC-h0-len-f32")
    assert COMPILED.conversions == compiles
    np.testing.assert_array_equal(batch_major.output.transpose(1, 0, 2), steps_first.output)
    np.testing.assert_array_equal(batch_major.h_n, steps_first.h_n)


F32 = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}


def option_model(spec, seed=0, peepholes=3.0):
    """The onnx engine's model of ``spec`` (peepholes scaled up so that dropping them shows), its params, an input."""
    params = Params.random(spec, seed=seed, dtype=np.float32)
    params = Params(spec, {k: v * (peepholes if ".w_peep." in k else 1.0) for k, v in params.items()})
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    return params, build_model(spec, onnx_mapping("onnx", spec).to_native(params)), {"X": x}


def test_openvino_drops_peepholes_and_input_forget(engine_or_skip):
    """Minimal reproduction (no upstream report found): an LSTM node with P and input_forget=1 compiles,
    and computes the LSTM without either (the frontend's v5::LSTMSequence has neither): equal to the
    reference of the plain layer, 0.1 and more off the layer's own."""
    engine_or_skip("openvino")
    from rnn_ref.cases.defects import without_options

    for options in (dict(peepholes=True), dict(input_forget=True)):
        spec = RNNSpec("lstm", 3, 4, **options)
        params, model, inputs = option_model(spec)
        y = outputs(compiled(model, inputs, F32), inputs)[0]
        plain, kept = without_options(spec, params, ("peepholes", "input_forget"))
        np.testing.assert_allclose(y, forward(plain, kept, inputs["X"]).output, atol=1e-6)
        assert np.abs(y - forward(spec, params, inputs["X"]).output).max() > 1e-2, options


@pytest.mark.parametrize(("name", "said"), [("HardSigmoid", "Unsupported activation function"),
                                            ("Affine", "Unknown activation function: affine")])
def test_openvino_compiles_no_activation_but_sigmoid_tanh_relu(engine_or_skip, name, said):
    """What the engines' activation limit quotes, said again by the compile (LSTM, f slot)."""
    adapter = engine_or_skip("openvino")
    from rnn_ref.adapters.onnx.openvino import NO_ACTIVATION

    spec = RNNSpec("lstm", 3, 4, activations=(name, "Tanh", "Tanh"))
    _, model, inputs = option_model(spec)
    with pytest.raises(RuntimeError, match=said):
        compiled(model, inputs, F32)
    assert said in NO_ACTIVATION and adapter.unsupported_reason(spec, "float32", False) == NO_ACTIVATION


@pytest.mark.parametrize("options", [dict(clip=1.0), dict(activations=("Sigmoid", "Relu", "Relu"))],
                         ids=["clip", "relu"])
def test_openvino_dynamic_honours_sequence_lens_where_the_node_is_decomposed(engine_or_skip, options):
    """The plugin sends a node with a clip, or an LSTM with other activations, to its TensorIterator
    decomposition (RNN::isSupportedOperation), which honours sequence_lens at dynamic shapes too; so the
    engine declares the lengths defect only for nodes on the oneDNN sequence primitive."""
    adapter = engine_or_skip("openvino-dynamic")
    spec = RNNSpec("lstm", 3, 4, **options)
    params = Params.random(spec, seed=0, dtype=np.float32)
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params), Interface(lengths=True))
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    inputs = {"X": x, "sequence_lens": np.array([5, 2], np.int32)}
    h_n = outputs(compiled(model, None, F32), inputs)[1]
    np.testing.assert_allclose(h_n, forward(spec, params, x, lengths=[5, 2]).h_n, atol=1e-6)
    assert adapter.expectation(spec, "float32", True).defect is None
    assert adapter.expectation(RNNSpec("lstm", 3, 4), "float32", True).defect is not None


def torch_openvino_conversion(spec, with_lengths):
    """The torch layer of ``spec`` and a torch-openvino conversion of it at (T=4, N=2), with lengths [4, 2]."""
    from rnn_ref.adapters.converted.base import Conversion
    from rnn_ref.adapters.torch.fused import TorchAdapter

    layer = TorchAdapter().build(spec, Params.random(spec, dtype=np.float32))
    feeds = [np.zeros((4, 2, spec.input_size), np.float32)] + ([np.array([4, 2], np.int64)] if with_lengths else [])
    return layer, Conversion(spec, "float32", False, with_lengths, tuple(feeds))


@pytest.mark.parametrize("mode", ["rnn_tanh", "gru"])
def test_torch_openvino_cannot_convert_packed_rnn_or_gru(engine_or_skip, mode):
    adapter = engine_or_skip("torch-openvino")
    from rnn_ref.adapters.converted.torch_openvino import NO_PACKED_RNN_GRU, convert

    spec = RNNSpec(mode, 3, 5)
    assert "prim::PackPadded" in NO_PACKED_RNN_GRU
    with pytest.raises(Exception, match="prim::PackPadded"):
        convert(*torch_openvino_conversion(spec, with_lengths=True))
    assert adapter.unsupported_reason(spec, "float32", True) == NO_PACKED_RNN_GRU


def test_torch_openvino_converts_a_packed_lstm_and_honours_its_lengths(engine_or_skip):
    """LSTM is the one layer whose packed sequence the frontend converts; reshaped static, the lengths hold."""
    engine_or_skip("torch-openvino")
    from rnn_ref.adapters.converted.torch_openvino import compile_model, convert, run_compiled

    spec = RNNSpec("lstm", 3, 5)
    layer, conversion = torch_openvino_conversion(spec, with_lengths=True)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    y, h_n, _ = run_compiled(compile_model(convert(layer, conversion)), [x, np.array([4, 2], np.int64)])
    params = Params.random(spec, dtype=np.float32)
    expected = forward(spec, params, x, lengths=[4, 2])
    np.testing.assert_allclose(h_n, expected.h_n, atol=1e-6)
    np.testing.assert_allclose(y, expected.output, atol=1e-6)


def test_torch_openvino_refuses_the_projection(engine_or_skip):
    engine_or_skip("torch-openvino")
    from rnn_ref.adapters.converted.torch_openvino import NO_PROJECTION, convert

    assert "SequenceMark" in NO_PROJECTION
    with pytest.raises(Exception, match="SequenceMark"):
        convert(*torch_openvino_conversion(RNNSpec("lstm", 3, 5, proj_size=2), with_lengths=False))
