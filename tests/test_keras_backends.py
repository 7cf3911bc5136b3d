"""Keras 3 on each backend: what is the same and what differs, one small test each.

Runs for whichever Keras engine is selected (``keras`` in the tensorflow env, ``keras-jax``
and ``keras-torch`` in theirs); the tests of another backend skip with the env to use. The
case matrix (test_equivalence.py) proves the numbers; these pin the behaviours behind the
adapter's declarations, so a Keras release that changes one is noticed here first.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.adapters.keras.backend import KERAS_BACKENDS, KERAS_ENGINES, KerasBackendMismatch
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec

pytestmark = pytest.mark.engine

N, T, I, H = 3, 4, 2, 3
LENGTHS = np.array([4, 2, 1])
MASK = np.arange(T)[None, :] < LENGTHS[:, None]
X = np.random.default_rng(0).standard_normal((N, T, I))


@pytest.fixture(params=KERAS_ENGINES)
def keras_engine(request, engine_or_skip):
    """(engine name, adapter, keras module) for each selected Keras engine."""
    adapter = engine_or_skip(request.param)
    return request.param, adapter, adapter.keras()


def numpy(keras, tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def test_masked_rnn_repeats_the_last_valid_output_on_every_backend(keras_engine):
    _, _, keras = keras_engine
    rnn = keras.layers.RNN(keras.layers.GRUCell(H), return_sequences=True)
    out = numpy(keras, rnn(X.astype(np.float32), mask=MASK))
    np.testing.assert_array_equal(out[1, 2:], np.broadcast_to(out[1, 1], (2, H)))
    np.testing.assert_array_equal(out[2, 1:], np.broadcast_to(out[2, 0], (3, H)))


def test_bidirectional_writes_zeros_at_padded_steps_on_every_backend(keras_engine):
    _, _, keras = keras_engine
    layer = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.GRUCell(H), return_sequences=True))
    out = numpy(keras, layer(X.astype(np.float32), mask=MASK))
    assert not out[1, 2:].any() and not out[2, 1:].any()
    assert out[1, :2].all()


def test_bidirectional_final_backward_state_is_after_step_0_on_every_backend(keras_engine):
    """The backward half of the output at step 0 is the backward final state (both forms agree)."""
    _, _, keras = keras_engine
    layer = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.LSTMCell(H), return_sequences=True,
                                                        return_state=True))
    out, h_f, _, h_b, _ = (numpy(keras, t) for t in layer(X.astype(np.float32), mask=MASK))
    np.testing.assert_array_equal(out[:, 0, H:], h_b)
    np.testing.assert_array_equal(out[np.arange(N), LENGTHS - 1, :H], h_f)


def test_float64_matmul_keeps_float64_only_on_tensorflow(keras_engine):
    """keras.ops.matmul of two float64 tensors: float64 on TensorFlow, float32 on PyTorch
    (dtypes.result_type maps float64 to float32 off TensorFlow: keras-team/keras#23704). On
    JAX, jnp.matmul keeps float64 (with jax_enable_x64, which the adapter turns on)."""
    engine, _, keras = keras_engine
    a, b = np.random.default_rng(1).standard_normal((2, 2, 3))
    product = numpy(keras, keras.ops.matmul(a, b.T))
    expected = {"keras": np.float64, "keras-jax": np.float64, "keras-torch": np.float32}[engine]
    assert product.dtype == expected
    np.testing.assert_allclose(product, a @ b.T, rtol=1e-15 if expected == np.float64 else 1e-6)


def test_float64_tanh_keeps_float64_except_on_jax(keras_engine):
    """keras.ops.tanh casts float64 to float32 on JAX (the same result_type demotion;
    no report of this JAX path found), keeps it on TensorFlow and PyTorch."""
    engine, _, keras = keras_engine
    value = numpy(keras, keras.ops.tanh(np.array([0.5, -1.25])))
    assert value.dtype == (np.float32 if engine == "keras-jax" else np.float64)


def test_float64_layer_is_rounded_to_float32_off_tensorflow(keras_engine):
    """The defect the matrix declares, in one cell: a float64 RNN(LSTMCell) against float64 NumPy."""
    engine, _, keras = keras_engine
    cell = keras.layers.LSTMCell(H, dtype="float64")
    out = numpy(keras, keras.layers.RNN(cell, dtype="float64")(X))
    kernel, recurrent, bias = (numpy(keras, w) for w in cell.weights)
    h, c = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T):
        z = X[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=1)
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    error = np.abs(out - h).max()
    assert out.dtype == np.float64
    if engine == "keras":
        assert error < 1e-14
    else:
        assert 1e-10 < error < 1e-5, error  # float32 rounding inside a float64 layer


def test_jax_truncates_float64_without_x64(engine_or_skip):
    """Why the adapter turns jax_enable_x64 on: without it a float64 Keras layer holds float32."""
    adapter = engine_or_skip("keras-jax")
    keras = adapter.keras()
    import jax

    with jax.enable_x64(False), pytest.warns(UserWarning, match="float64 .* truncated to dtype float32"):
        cell = keras.layers.SimpleRNNCell(H, dtype="float64")
        cell.build((None, I))
        assert numpy(keras, cell.kernel).dtype == np.float32


def test_jax_compiled_scan_of_a_float64_simple_rnn_fails(engine_or_skip):
    """Under jit (how Keras on JAX runs by default), the float32 tanh breaks lax.scan's carry type.
    The adapter runs op by op, where the same defect shows as float32 rounding instead."""
    keras = engine_or_skip("keras-jax").keras()
    rnn = keras.layers.RNN(keras.layers.SimpleRNNCell(H, dtype="float64"), dtype="float64")
    with pytest.raises(TypeError, match="carry input and carry output must have equal types"):
        rnn(X)


@pytest.mark.parametrize("case_id", ["lstm-L2-bi-NTC-h0-len-f32", "gru_reset_before-L1-uni-TNC-len-f32",
                                     "rnn_relu-L2-uni-NTC-h0-f64"])
def test_jax_compiled_scan_agrees_with_the_reference(engine_or_skip, case_id):
    """The matrix runs Keras on JAX op by op (jax.disable_jit); the default compiled lax.scan
    gives the same verdict on representative cases."""
    import contextlib

    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_case

    adapter = engine_or_skip("keras-jax")
    compiled = type(adapter)()
    compiled.execution = contextlib.nullcontext
    result = run_case(compiled, case_by_id(case_id))
    assert result.status == PASS, result.report()


def test_another_backend_is_refused_with_the_env_to_use(keras_engine):
    engine, _, _ = keras_engine
    from rnn_ref.adapters import adapter_object
    from rnn_ref.cases.matrix import case_by_id

    case = case_by_id("gru-L1-uni-TNC-f32")
    for other in KERAS_ENGINES:
        if other == engine:
            continue
        backend = next(b for b, (e, _) in KERAS_BACKENDS.items() if e == other)
        with pytest.raises(KerasBackendMismatch, match=rf"engine {other} needs Keras on the {backend} backend.*"
                                                       rf"tox -e {KERAS_BACKENDS[backend][1]}"):
            adapter_object(other).build(case.spec, case.data().params)


@pytest.mark.parametrize("engine", [
    pytest.param("keras-jax", marks=pytest.mark.xfail(strict=True, raises=ValueError, reason=(
        "Keras 3.15 on JAX: RNN(StackedRNNCells([one cell])) under a mask fails with 'Expected an instance of "
        "list, got JitTracer' (keras-team/keras#21224 fixed stacks of several cells; no report of the "
        "one-cell case found); on TensorFlow it fails too (test_keras_conventions.py), on PyTorch it works"))),
    "keras-torch",
])
def test_stacked_cells_with_a_single_cell_accept_a_mask_off_tensorflow(engine, engine_or_skip):
    """Why the adapter uses RNN(cell), not StackedRNNCells, for one layer on every backend."""
    keras = engine_or_skip(engine).keras()
    rnn = keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.GRUCell(H)]), return_sequences=True)
    out = numpy(keras, rnn(X.astype(np.float32), mask=MASK))
    assert out.shape == (N, T, H)


@pytest.mark.parametrize("case_id", ["lstm-L2-bi-NTC-h0-len-f32", "gru_reset_before-L2-uni-TNC-len-f64",
                                     "rnn_relu-L1-uni-NTC-h0-f64", "gru-L1-bi-TNC-h0-lenshort-f32"])
def test_a_gradient_run_computes_the_plain_forward_bit_for_bit_on_every_backend(keras_engine, case_id):
    """Each backend's autodiff (tf.GradientTape, jax.vjp of the stateless call, torch.autograd) runs
    the layers ``run`` runs, executed the same way (op by op on JAX), so the forward it computes
    on the way is ``run``'s, bit for bit: a case's forward test may judge it
    (rnn_ref.judge.runner.ForwardsOfGradientRuns) instead of running the layers again."""
    from gradient_runs import assert_gradient_run_computes_the_plain_forward

    from rnn_ref.cases.matrix import case_by_id

    _, adapter, _ = keras_engine
    case = case_by_id(case_id)
    # an empty run memo: both runs are computed here
    differentiated = assert_gradient_run_computes_the_plain_forward(type(adapter)(), case)
    assert differentiated.x.dtype == case.dtype and differentiated.x.shape == case.data().x.shape



def test_go_backwards_reaches_its_padded_steps_first_zeros_there_except_on_jax(keras_engine):
    """A masked ``RNN(go_backwards=True)`` reaches its padded steps first, before any valid step.
    A masked step writes the previous output on TensorFlow and PyTorch (zeros before the first)
    and the previous state's h on JAX (``output_tm1 = states[0]`` in its scan step): so zeros there
    in Keras's reversed order, and on JAX the initial h. Without an initial state both are zeros.
    The KerasJaxAdapter writes zeros there (``time_order``), as the other backends do; the adapter
    declares zeros at padded steps for a reverse layer."""
    engine, _, keras = keras_engine
    rnn = keras.layers.RNN(keras.layers.LSTMCell(H), return_sequences=True, go_backwards=True)
    h0, c0 = np.random.default_rng(1).standard_normal((2, N, H)).astype(np.float32)
    out = numpy(keras, rnn(X.astype(np.float32), initial_state=[h0, c0], mask=MASK))
    unmasked = numpy(keras, rnn(X.astype(np.float32), mask=MASK))
    for n, length in enumerate(LENGTHS):
        padded = np.broadcast_to(h0[n] if engine == "keras-jax" else 0.0, (T - length, H))
        np.testing.assert_array_equal(out[n, :T - length], padded, err_msg=str(n))
        assert out[n, T - length:].all() and not unmasked[n, :T - length].any(), n


def keras_activation_cases() -> list:
    from rnn_ref.adapters.keras.options import KERAS_ACTIVATIONS

    return [pytest.param(activation, name, id=name) for activation, name in KERAS_ACTIVATIONS.items()]


#: Keras activations that do not compute their ONNX activation in float64 on a backend: what they
#: compute instead, and the tolerance to which they do
FLOAT64_EXCEPTIONS = {
    # keras.ops.tanh casts float64 to float32 on JAX (test_float64_tanh_keeps_float64_except_on_jax)
    ("keras-jax", "tanh"): (lambda x: np.tanh(x), 2e-6),
    # TensorFlow's LeakyRelu op holds its slope in a float attribute: float32(0.2) = 0.20000000298
    ("keras", "leaky_relu"): (lambda x: np.where(x >= 0, x, x * np.float64(np.float32(0.2))), 1e-15),
}


@pytest.mark.parametrize(("activation", "name"), keras_activation_cases())
def test_each_keras_activation_name_computes_its_onnx_activation(keras_engine, activation, name):
    """The adapter's translation table (rnn_ref/adapters/keras/options.py: KERAS_ACTIVATIONS)
    checked on each backend against rnn_ref.core.activations: float32 within the float32
    tolerance; float64 within 1e-15 except where ``FLOAT64_EXCEPTIONS`` says what the backend
    computes instead (tanh on JAX: float32; leaky_relu on TensorFlow: the slope in float32, an
    error of 3.5e-8 on these inputs, measured; both declared defects of the engines)."""
    engine, _, keras = keras_engine
    x = 3 * np.random.default_rng(2).standard_normal(1000)
    function = keras.activations.get(name)
    y32 = numpy(keras, function(keras.ops.convert_to_tensor(x.astype(np.float32))))
    np.testing.assert_allclose(y32, activation(x.astype(np.float32)), rtol=2e-6, atol=2e-6)
    y64 = numpy(keras, function(keras.ops.convert_to_tensor(x, dtype="float64")))
    exception = FLOAT64_EXCEPTIONS.get((engine, name))
    if exception is None:
        assert y64.dtype == np.float64
        np.testing.assert_allclose(y64, activation(x), rtol=1e-15, atol=1e-15)
    else:
        instead, tolerance = exception
        assert np.abs(y64 - activation(x)).max() > 1e-9
        np.testing.assert_allclose(y64, instead(x), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("case_id", "onnx_default_error"), [
    ("lstm-L1-uni-rev-hardsig3-TNC-f32", 0.04914), ("gru-L2-uni-rev-hardsig3-TNC-h0-lenshort-f64", 0.05968)])
def test_keras3_hard_sigmoid_is_onnx_hard_sigmoid_with_alpha_one_sixth_not_its_default(keras_engine, case_id,
                                                                                       onnx_default_error):
    """Keras 3.15's ``hard_sigmoid`` is relu6(x + 3) / 6, i.e. ONNX HardSigmoid(alpha=1/6,
    beta=0.5): layers with it as their recurrent activation match the reference with that
    activation at the case's tolerance (float32 and float64; where the engine computes float64
    in float32 — keras-jax's tanh, keras-torch's matmul — as that declared defect). ONNX's
    HardSigmoid default (alpha=0.2, beta=0.5, Keras 2's hard_sigmoid) is another function: the
    same Keras run is 0.0491 (the LSTM's c_n, float32) and 0.0597 (the 2-layer reverse GRU, float64)
    off the reference with alpha=0.2 (measured on all three backends; the same to 1e-6), far
    above either tolerance."""
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.core.compare import TOLERANCES
    from rnn_ref.core.params import Params
    from rnn_ref.judge.runner import KNOWN_DEFECT, PASS, engine_inputs, run_case
    from rnn_ref.judge.tensors import judge
    from rnn_ref.oracle.forward import forward

    _, adapter, _ = keras_engine
    case = case_by_id(case_id)
    assert case.spec.resolved_activations[0].text == "HardSigmoid(alpha=0.166667, beta=0.5)"
    result = run_case(adapter, case)
    declared = adapter.known_defect(case.spec, case.dtype, case.with_lengths)
    assert result.status == (KNOWN_DEFECT if declared else PASS), result.report()

    data = engine_inputs(case.data())
    spec = case.spec
    got = adapter.run(spec, adapter.build(spec, data.params), data.x, data.initial_state, data.lengths)
    onnx_default = spec.replace(activation_alpha=(0.2, *spec.activation_alpha[1:]))
    assert onnx_default.resolved_activations[0].text == "HardSigmoid(alpha=0.2, beta=0.5)"
    expected = forward(onnx_default, Params(onnx_default, dict(data.params)), data.x, data.initial_state,
                       data.lengths)
    comparisons = judge(spec, got, expected, data.lengths, adapter.padded_steps(spec), TOLERANCES[case.dtype])
    error = max(c.max_abs_error for c in comparisons)
    assert error > 1000 * TOLERANCES["float32"].atol
    assert abs(error - onnx_default_error) < 1e-4, error


HARD_SIGMOID = dict(activations=("HardSigmoid", "Tanh"), activation_alpha=(1 / 6, 0.0), activation_beta=(0.5, 0.0))


@pytest.mark.parametrize("spec", [
    RNNSpec("gru", 3, 4, num_layers=2, reverse=True, **HARD_SIGMOID),
    RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True, merge_mode="sum", activations=("Sigmoid", "Relu", "Relu")),
    RNNSpec("rnn_tanh", 3, 4, num_layers=3, bidirectional=True, merge_mode="ave", activations=("Softsign",)),
], ids=lambda spec: "-".join(spec.options) + f"-{spec.mode}")
def test_a_weights_h5_file_of_an_option_layer_round_trips_and_runs_it_on_every_backend(keras_engine, spec, tmp_path):
    """go_backwards, merge_mode and the activations are layer configuration, which a .weights.h5
    does not hold: the option layer's file holds its weights (a merged level above the first has
    R-input kernels), round-trips bit for bit through Keras's save and load, and the layer built
    from it computes the reference. A concat layer's file (2R-input kernels) is refused for a
    merged layer, from its dataset shapes."""
    from rnn_ref.conversion.convert import read_params, write_params
    from rnn_ref.core.compare import TOLERANCES, compare
    from rnn_ref.core.errors import ParamsError
    from rnn_ref.oracle.forward import forward

    engine, adapter, _ = keras_engine
    mapping = adapter.mapping(spec)
    params = mapping.to_params(mapping.to_native(Params.random(spec, seed=3)))  # one bias: the folded params
    write_params(engine, tmp_path / "w.weights.h5", params)
    loaded = read_params(engine, tmp_path / "w.weights.h5", spec)
    assert loaded.equal(params)
    x = np.random.default_rng(4).standard_normal((N, T, 3)).astype(np.float32).transpose(1, 0, 2)
    got = adapter.run(spec, adapter.build(spec, loaded), x)
    for comparison in (compare(name, getattr(got, name), getattr(forward(spec, params, x), name), TOLERANCES["float32"])
                       for name in ("output", "h_n")):
        assert comparison.passed, comparison.describe()
    if spec.merge_mode != "concat":
        concat = spec.replace(merge_mode="concat")
        write_params(engine, tmp_path / "concat.weights.h5", Params.random(concat, seed=3))
        with pytest.raises(ParamsError, match="do not match the keras model"):
            read_params(engine, tmp_path / "concat.weights.h5", spec)
