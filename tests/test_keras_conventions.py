"""Keras 3 behaviours that differ from the canonical conventions, one small test each.

The adapter (rnn_ref/adapters/keras/layers.py) handles every one of them; these tests pin the
behaviour itself, so a Keras release that changes it is noticed here first. A strict xfail
is a Keras defect, reproduced only by its stated signature (rnn_ref.cases.defects).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnn_ref.cases.defects import KnownDefectReproduced, expect_defect

pytestmark = pytest.mark.engine

N, T, I, H = 3, 4, 2, 3
LENGTHS = np.array([4, 2, 1])
MASK = np.arange(T)[None, :] < LENGTHS[:, None]
X = np.random.default_rng(0).standard_normal((N, T, I)).astype(np.float32)


@pytest.fixture(scope="module")
def keras(engine_or_skip):
    engine_or_skip("keras")
    from rnn_ref.adapters.keras.layers import quiet_import_keras

    return quiet_import_keras()


def test_masked_rnn_repeats_the_last_valid_output_at_padded_steps(keras):
    rnn = keras.layers.RNN(keras.layers.GRUCell(H), return_sequences=True)
    out = keras.ops.convert_to_numpy(rnn(X, mask=MASK))
    np.testing.assert_array_equal(out[1, 2], out[1, 1])  # sample 1 has 2 steps
    np.testing.assert_array_equal(out[2, 3], out[2, 0])  # sample 2 has 1 step


def test_bidirectional_writes_zeros_at_padded_steps(keras):
    layer = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.GRUCell(H), return_sequences=True))
    out = keras.ops.convert_to_numpy(layer(X, mask=MASK))
    assert not out[1, 2:].any() and not out[2, 1:].any()
    assert out[1, :2].all()


def test_lstm_forget_bias_starts_at_one(keras):
    cell = keras.layers.LSTMCell(H)
    cell.build((None, I))
    bias = keras.ops.convert_to_numpy(cell.bias)  # gates i, f, c, o
    np.testing.assert_array_equal(bias, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])


def test_float64_cell_inside_a_float32_rnn_gives_float32_outputs(keras):
    """dtype must be set on the cell AND on the wrapper (the adapter sets it on every level)."""
    rnn = keras.layers.RNN(keras.layers.LSTMCell(H, dtype="float64"), return_sequences=True)
    assert keras.ops.convert_to_numpy(rnn(X.astype(np.float64))).dtype == np.float32
    both = keras.layers.RNN(keras.layers.LSTMCell(H, dtype="float64"), return_sequences=True, dtype="float64")
    assert keras.ops.convert_to_numpy(both(X.astype(np.float64))).dtype == np.float64


def test_gru_reset_after_has_a_two_row_bias_and_reset_before_one(keras):
    after, before = keras.layers.GRUCell(H, reset_after=True), keras.layers.GRUCell(H, reset_after=False)
    after.build((None, I))
    before.build((None, I))
    assert tuple(after.bias.shape) == (2, 3 * H) and tuple(before.bias.shape) == (3 * H,)


def long_version(case_id: str) -> object:
    """The case with ``COMPILED_FROM_STEPS`` steps: long enough to run traced (``KerasAdapter.compiled``)."""
    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS
    from rnn_ref.cases.matrix import case_by_id

    return dataclasses.replace(case_by_id(case_id), steps=COMPILED_FROM_STEPS)


@pytest.mark.parametrize(("case_id", "steps"), [
    ("lstm-L2-bi-NTC-h0-len-f32", "matrix"), ("gru_reset_before-L3-uni-TNC-len-f64", "matrix"),
    ("rnn_relu-L1-uni-NTC-h0-f32", "matrix"), ("gru-L2-uni-TNC-h0-len-nobias-f32", "matrix"),
    ("lstm-L1-uni-TNC-h0-len-f32", "traced"), ("gru-L1-bi-NTC-h0-len-f64", "traced")])
def test_the_forward_under_gradient_tape_is_the_plain_forward_bit_for_bit(keras, case_id, steps):
    """tf.GradientTape records the ops ``run`` executes (eagerly on the matrix's 6 steps; in a
    ``tf.function`` of the same layers from ``COMPILED_FROM_STEPS`` steps on), so the forward a
    gradient run computes is what ``run`` computes, bit for bit. That is why a case's forward test
    may judge the output of its gradient run (rnn_ref.judge.runner.ForwardsOfGradientRuns) instead of
    running the layers again."""
    from rnn_ref.adapters import load_adapter
    from rnn_ref.cases.cotangents import case_cotangents
    from rnn_ref.cases.matrix import case_by_id

    adapter = type(load_adapter("keras"))()  # an empty run memo: both runs are computed here
    case = case_by_id(case_id) if steps == "matrix" else long_version(case_id)
    data = case.data()
    layer = adapter.build(case.spec, data.params)
    plain = adapter.run(case.spec, layer, data.x, data.initial_state, data.lengths)
    taped = adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths,
                                  case_cotangents(case)).output
    for name in ("output", "h_n", "c_n"):
        np.testing.assert_array_equal(getattr(taped, name), getattr(plain, name), err_msg=name)
        assert getattr(taped, name) is None or getattr(taped, name).dtype == data.x.dtype


def test_long_sequences_run_as_one_tf_function_and_the_matrix_eagerly(keras):
    """Eager Keras pays its Python dispatch on every step; a trace costs about a second once. So
    from ``COMPILED_FROM_STEPS`` steps on the layers run as one tf.function, as model.predict runs them."""
    import tensorflow as tf

    from rnn_ref.adapters import load_adapter
    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS

    adapter = load_adapter("keras")

    def eagerly() -> bool:
        return tf.executing_eagerly()

    assert adapter.compiled(eagerly, 6)() is True
    assert adapter.compiled(eagerly, COMPILED_FROM_STEPS - 1)() is True
    assert bool(adapter.compiled(eagerly, COMPILED_FROM_STEPS)()) is False


@pytest.mark.parametrize("case_id", ["gru-L1-uni-TNC-h0-len-f32", "lstm-L1-bi-NTC-f32"])
def test_run_and_run_gradients_choose_by_the_number_of_steps(keras, monkeypatch, case_id):
    """Both go through ``compiled`` with the case's steps (not its batch: 6 and 4), in either layout."""
    from rnn_ref.adapters import load_adapter
    from rnn_ref.cases.cotangents import case_cotangents
    from rnn_ref.cases.matrix import case_by_id

    # an empty run memo (a matrix test may have run this case): both runs reach ``compiled``
    adapter, case = type(load_adapter("keras"))(), case_by_id(case_id)
    asked: list[int] = []
    compiled = adapter.compiled
    monkeypatch.setattr(adapter, "compiled", lambda function, steps: asked.append(steps) or compiled(function, steps))
    data = case.data()
    layer = adapter.build(case.spec, data.params)
    adapter.run(case.spec, layer, data.x, data.initial_state, data.lengths)
    adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths, case_cotangents(case))
    assert asked == [case.steps, case.steps] and case.steps != case.batch


SINGLE_CELL_STACK = ("Keras 3: RNN(StackedRNNCells([one cell])) under a mask fails with a nested-structure error "
                     "(no upstream report found); the adapter uses RNN(cell) for one layer")


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=SINGLE_CELL_STACK)
def test_stacked_cells_with_a_single_cell_accept_a_mask(keras):
    import gc

    import tensorflow as tf

    rnn = keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.GRUCell(H)]), return_sequences=True)
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("CRITICAL")  # the failure leaves TensorArrays that TF reports when collected
    try:
        rnn(X, mask=MASK)
        failure = None
    except Exception as error:  # keep only the message: the traceback would keep those arrays alive
        failure = (type(error), str(error))
    finally:
        gc.collect()
        logger.setLevel(level)
    signature = "The two structures don't have the same nested structure"
    expect_defect(SINGLE_CELL_STACK, f"ValueError: {signature}", correct=failure is None,
                  matches_signature=failure is not None and failure[0] is ValueError and signature in failure[1],
                  seen=f"{failure[0].__name__}: {failure[1].splitlines()[0]}" if failure else "")


def numpy(keras, *tensors) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def gru_pair(keras) -> tuple[object, object]:
    """RNN(cell, go_backwards=True) and RNN(cell) over one built GRU cell (the same weights)."""
    cell = keras.layers.GRUCell(H)
    backward = keras.layers.RNN(cell, return_sequences=True, return_state=True, go_backwards=True)
    forward = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    forward(X)  # builds the cell, with Keras's random weights
    return backward, forward


def test_go_backwards_returns_its_output_in_reversed_time_order(keras):
    """``RNN(go_backwards=True)`` reads x from step T-1 down to step 0 and returns the outputs in
    the order it computed them: its output step j follows input step T-1-j, i.e. it is the
    forward layer run on x reversed, *not* flipped back (ONNX ``direction="reverse"`` and the
    reference return original time order; the adapter flips at its boundary: layers.time_order).
    The final state is the last step of that output, the state after input step 0."""
    backward, forward = gru_pair(keras)
    out, h = numpy(keras, *backward(X))
    on_reversed, h_reversed = numpy(keras, *forward(X[:, ::-1]))
    np.testing.assert_array_equal(out, on_reversed)
    np.testing.assert_array_equal(h, h_reversed)
    np.testing.assert_array_equal(h, out[:, -1])
    assert not np.allclose(out, out[:, ::-1])  # the order is visible


def test_go_backwards_under_a_mask_reads_each_sample_from_its_last_step_and_writes_zeros_first(keras):
    """Under a mask the reversed sequence starts with the padded steps; Keras skips them (the
    state stays the initial one), then reads the sample's last valid step down to step 0. In
    Keras's order a sample of length L has zeros at steps 0..T-L-1 (a masked step repeats the
    previous output, and there is none yet: not even the initial state shows) and, from step T-L,
    the outputs of its own L steps read backwards. Flipped back to original order, the padded
    steps at the end hold zeros: the adapter's ``padded_steps`` for a reverse layer."""
    backward, forward = gru_pair(keras)
    h0 = np.random.default_rng(1).standard_normal((N, H)).astype(np.float32)
    out, h = numpy(keras, *backward(X, initial_state=[h0], mask=MASK))
    for n, length in enumerate(LENGTHS):
        assert not out[n, :T - length].any(), n
        alone, h_alone = numpy(keras, *forward(X[n:n + 1, :length][:, ::-1], initial_state=[h0[n:n + 1]]))
        np.testing.assert_allclose(out[n, T - length:], alone[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h[n], h_alone[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("merge_mode", "merge"), [
    ("sum", lambda y, y_rev: y + y_rev), ("mul", lambda y, y_rev: y * y_rev), ("ave", lambda y, y_rev: (y + y_rev) / 2)])
def test_bidirectional_merge_modes_merge_the_halves_concat_returns(keras, merge_mode, merge):
    """``Bidirectional(merge_mode=...)`` merges the forward output and the backward output (in
    original time order, zeros at padded steps) that ``concat`` puts side by side, elementwise;
    the final states stay per direction, as with ``concat``. So a merged level's output has H
    features, the input size of the level above (the canonical ``merge_mode``)."""
    def layer(mode: str) -> object:
        rnn = keras.layers.RNN(keras.layers.LSTMCell(H), return_sequences=True, return_state=True)
        return keras.layers.Bidirectional(rnn, merge_mode=mode)

    concat, merged = layer("concat"), layer(merge_mode)
    concat(X)
    merged(X)
    merged.set_weights(concat.get_weights())
    both, *states = numpy(keras, *concat(X, mask=MASK))
    out, *merged_states = numpy(keras, *merged(X, mask=MASK))
    assert out.shape == (N, T, H)
    np.testing.assert_array_equal(out, merge(both[..., :H], both[..., H:]))
    for state, merged_state in zip(states, merged_states, strict=True):
        np.testing.assert_array_equal(merged_state, state)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_leaky_relu_layer_in_float64_has_its_slope_rounded_to_float32_on_tensorflow(keras, dtype):
    """TensorFlow's LeakyRelu op holds its slope in a 32-bit float attribute, so Keras's
    ``leaky_relu`` (slope 0.2) computes 0.20000000298·x below 0 even in float64
    (test_keras_backends.py pins the activation on every backend). A whole layer shows it as
    the declared defect TF_FLOAT64_LEAKY_RELU: float64 within the float32 tolerance only; float32
    passes. (No matrix case uses Keras's leaky_relu: this case is made here.)"""
    from rnn_ref.adapters import load_adapter
    from rnn_ref.adapters.keras.layers import TF_FLOAT64_LEAKY_RELU
    from rnn_ref.cases.matrix import SMALL, Case
    from rnn_ref.core.spec import RNNSpec
    from rnn_ref.judge.runner import KNOWN_DEFECT, PASS, run_case

    spec = RNNSpec("rnn_tanh", SMALL["input_size"], SMALL["hidden_size"], num_layers=2, layout="NTC",
                   activations=("LeakyRelu",), activation_alpha=(0.2,))
    case = Case("rnn_tanh", spec, SMALL["steps"], SMALL["batch"], True, True, dtype, options=("leaky",))
    result = run_case(load_adapter("keras"), case)
    if dtype == "float32":
        assert result.status == PASS, result.report()
    else:
        assert result.status == KNOWN_DEFECT and result.reason == TF_FLOAT64_LEAKY_RELU, result.report()
        assert 1e-9 < result.max_error < 1e-6, result.max_error
