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

