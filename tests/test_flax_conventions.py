"""Flax NNX behaviours that differ from the canonical conventions, one small test each.

The adapter (rnn_ref/adapters/flax/nnx.py) handles every one of them; these tests pin the
behaviour itself on the installed Flax, so a release that changes it is noticed here first.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.engine

N, T, I, H = 3, 4, 2, 3
LENGTHS = np.array([4, 2, 1])
X = np.random.default_rng(0).standard_normal((N, T, I)).astype(np.float32)


@pytest.fixture(scope="module")
def nnx(engine_or_skip):
    engine_or_skip("flax")
    from rnn_ref.adapters.flax.nnx import import_flax

    return import_flax()[1]


def params_of(nnx, module) -> dict[str, tuple[int, ...]]:
    return {".".join(map(str, path)): tuple(v.get_value().shape)
            for path, v in nnx.to_flat_state(nnx.state(module, nnx.Param))}


def test_gru_cell_has_no_b_hn(nnx):
    """Only dense_i has a bias: b_ir, b_iz, b_in. The recurrent side has none, so b_hn does not exist."""
    cell = nnx.GRUCell(I, H, rngs=nnx.Rngs(0))
    assert params_of(nnx, cell) == {"dense_h.kernel": (H, 3 * H), "dense_i.bias": (3 * H,),
                                    "dense_i.kernel": (I, 3 * H)}


def test_lstm_cell_keeps_one_linear_per_gate_and_the_bias_on_the_recurrent_side(nnx):
    names = params_of(nnx, nnx.LSTMCell(I, H, rngs=nnx.Rngs(0)))
    assert names == {**{f"{g}.kernel": (I, H) for g in ("ii", "if_", "ig", "io")},
                     **{f"{g}.kernel": (H, H) for g in ("hi", "hf", "hg", "ho")},
                     **{f"{g}.bias": (H,) for g in ("hi", "hf", "hg", "ho")}}


def test_optimized_lstm_cell_stacks_its_gates_unlike_lstm_cell(nnx):
    """Its docstring says the parameters are compatible with LSTMCell; names and shapes are not."""
    names = params_of(nnx, nnx.OptimizedLSTMCell(I, H, rngs=nnx.Rngs(0)))
    assert names == {"dense_i.kernel": (I, 4 * H), "dense_h.kernel": (H, 4 * H), "dense_h.bias": (4 * H,)}


def test_lstm_carry_is_c_then_h(nnx):
    cell = nnx.LSTMCell(I, H, rngs=nnx.Rngs(0))  # biases start at zero
    c0, h0 = np.full((N, H), 0.5), np.zeros((N, H))
    (c1, h1), out = cell((c0.astype(np.float32), h0.astype(np.float32)), X[:, 0])
    gate = {name: X[:, 0].astype(np.float64) @ np.asarray(getattr(cell, name).kernel[...]) for name in ("ii", "if_", "ig", "io")}
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sigmoid(gate["if_"]) * c0 + sigmoid(gate["ii"]) * np.tanh(gate["ig"])  # h0 = 0: no recurrent term
    np.testing.assert_allclose(np.asarray(c1), c, atol=1e-6)
    np.testing.assert_allclose(np.asarray(h1), sigmoid(gate["io"]) * np.tanh(c), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(h1))


def test_rnn_does_not_mask_outputs_at_padded_steps(nnx):
    """nnx.RNN with seq_lengths keeps running the cell on the padding: padded outputs are the
    cell's values there (the adapter writes zeros, the canonical form); the final carry is the
    one after the last valid step."""
    rnn = nnx.RNN(nnx.SimpleCell(I, H, rngs=nnx.Rngs(0)), return_carry=True)
    carry, out = rnn(X, seq_lengths=LENGTHS)
    full = np.asarray(nnx.RNN(nnx.SimpleCell(I, H, rngs=nnx.Rngs(0)))(X))
    np.testing.assert_allclose(np.asarray(out), full, rtol=1e-6)  # same as running without lengths
    assert np.asarray(out)[2, 1:].any()  # sample 2 has one step; its padded outputs are not zero
    np.testing.assert_allclose(np.asarray(carry), full[np.arange(N), LENGTHS - 1], rtol=1e-6)


def test_backward_rnn_reverses_each_sample_within_its_length(nnx):
    """reverse=True with seq_lengths starts each sample at its last valid step (flip_sequences)."""
    cell = nnx.SimpleCell(I, H, rngs=nnx.Rngs(0))
    carry, _ = nnx.RNN(cell, return_carry=True)(X, seq_lengths=LENGTHS, reverse=True, keep_order=True)
    one = X[1, :2][::-1][None]  # sample 1, its two valid steps, reversed
    expected = np.asarray(nnx.RNN(cell)(one))[0, -1]
    np.testing.assert_allclose(np.asarray(carry)[1], expected, rtol=1e-6)


def test_simple_cell_computes_in_float32_unless_dtype_is_given(nnx):
    """SimpleCell's dtype defaults to float32 (LSTMCell's and GRUCell's to None: the inputs')."""
    x = X.astype(np.float64)
    plain = nnx.SimpleCell(I, H, param_dtype=np.float64, rngs=nnx.Rngs(0))
    _, out = plain(np.zeros((N, H)), x[:, 0])
    assert np.asarray(out).dtype == np.float32
    lstm = nnx.LSTMCell(I, H, param_dtype=np.float64, rngs=nnx.Rngs(0))
    _, out = lstm((np.zeros((N, H)), np.zeros((N, H))), x[:, 0])
    assert np.asarray(out).dtype == np.float64


def test_a_no_bias_layer_refuses_to_read_back_a_nonzero_bias(nnx):
    from rnn_ref import Params, ParamsError, RNNSpec
    from rnn_ref.adapters import load_adapter

    adapter = load_adapter("flax")
    spec = RNNSpec("gru", I, H, bias=False)
    layer = adapter.build(spec, Params.random(spec))
    layer.module.layers[0].cell.dense_i.bias[...] = np.ones(3 * H)
    with pytest.raises(ParamsError, match=r"holds nonzero biases: layers\.0\.cell\.dense_i\.bias"):
        adapter.extract(spec, layer)


def test_short_sequences_run_op_by_op_and_long_ones_with_the_scan_compiled(engine_or_skip):
    """``nnx.RNN`` compiles its scan on every eager call (0.1 to 0.4 s per level and direction): the
    adapter runs the matrix's 6 steps op by op, and from ``COMPILED_FROM_STEPS`` steps on lets Flax
    compile, as it does by default."""
    adapter = engine_or_skip("flax")
    import jax

    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS

    for steps, op_by_op in ((6, True), (COMPILED_FROM_STEPS - 1, True), (COMPILED_FROM_STEPS, False)):
        with adapter.execution(steps):
            assert jax.config.jax_disable_jit is op_by_op, steps


@pytest.mark.parametrize("case_id", ["gru-L1-uni-TNC-h0-len-nobias-f32", "lstm-L1-bi-NTC-f32"])
def test_run_chooses_by_the_number_of_steps(engine_or_skip, monkeypatch, case_id):
    """``run`` asks ``execution`` with the case's steps (not its batch: 6 and 4), in either layout."""
    from rnn_ref.cases.matrix import case_by_id

    adapter, case = engine_or_skip("flax"), case_by_id(case_id)
    asked: list[int] = []
    execution = adapter.execution
    monkeypatch.setattr(adapter, "execution", lambda steps: asked.append(steps) or execution(steps))
    data = case.data()
    adapter.run(case.spec, adapter.build(case.spec, data.params), data.x, data.initial_state, data.lengths)
    assert asked == [case.steps] and case.steps != case.batch


@pytest.mark.parametrize(("engine", "case_id"), [("flax", "lstm-L2-bi-TNC-h0-len-f32"),
                                                 ("flax", "rnn_relu-L1-uni-NTC-h0-f64"),
                                                 ("flax-optimized", "lstm-L2-bi-NTC-len-f32")])
def test_long_sequences_match_the_reference_with_the_scan_compiled(engine, case_id, engine_or_skip):
    """The matrix's T=200 cases run compiled too; these are small, at ``COMPILED_FROM_STEPS`` steps."""
    import dataclasses

    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_case

    case = dataclasses.replace(case_by_id(case_id), steps=COMPILED_FROM_STEPS)
    result = run_case(engine_or_skip(engine), case)
    assert result.status == PASS, f"{case_id} at {case.steps} steps (not the matrix case):\n{result.report()}"


@pytest.mark.parametrize(("engine", "case_id", "steps"), [
    ("flax", "lstm-L2-bi-TNC-h0-len-f32", 6), ("flax", "rnn_relu-L1-uni-NTC-f64", 6),
    ("flax", "gru-L2-uni-NTC-h0-len-nobias-f32", 6), ("flax-optimized", "lstm-L1-bi-NTC-h0-len-f64", 6),
    ("flax", "rnn_tanh-L1-bi-TNC-h0-len-f32", "compiled")])
def test_a_gradient_run_computes_the_plain_forward_bit_for_bit(engine, case_id, steps, engine_or_skip):
    """jax.vjp of the module's pure call (nnx.split, then nnx.merge inside) runs the levels ``run``
    runs, executed the same way (op by op, or the scan compiled from ``COMPILED_FROM_STEPS`` steps),
    so the forward it computes on the way is ``run``'s, bit for bit, and the runner may judge a
    case's forward test from it. Even without an initial state: nnx.RNN then draws its zero carry
    through the cells' Rngs, which the gradient run hands in as inputs."""
    import dataclasses

    from gradient_runs import assert_gradient_run_computes_the_plain_forward

    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS
    from rnn_ref.cases.matrix import case_by_id

    case = case_by_id(case_id)
    if steps == "compiled":
        case = dataclasses.replace(case, steps=COMPILED_FROM_STEPS)
    assert_gradient_run_computes_the_plain_forward(engine_or_skip(engine), case)


@pytest.mark.parametrize(("engine", "case_id"), [("flax", "lstm-L2-bi-TNC-h0-len-f32")])
def test_long_sequences_differentiate_with_the_scan_compiled(engine, case_id, engine_or_skip):
    """The T=200 cases differentiate through the compiled scan (outside the live pairwise subset:
    ``slow_gradients``); this small case at ``COMPILED_FROM_STEPS`` steps takes that path live."""
    import dataclasses

    from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_gradient_case

    case = dataclasses.replace(case_by_id(case_id), steps=COMPILED_FROM_STEPS)
    result = run_gradient_case(engine_or_skip(engine), case)
    assert result.status == PASS, f"{case_id} at {case.steps} steps (not the matrix case):\n{result.report()}"


# ----------------------------------------------------------------------------- options (design 2c)
def test_reverse_keeps_the_original_order_only_with_keep_order(nnx):
    """reverse=True reads each sample from its last valid step; keep_order=True flips the outputs
    back (original time order, the adapter's choice), keep_order=False (the default) returns them
    in the order read: step t holds the state after the sample's last t + 1 valid steps."""
    cell = nnx.SimpleCell(I, H, rngs=nnx.Rngs(0))
    kept = np.asarray(nnx.RNN(cell, reverse=True, keep_order=True)(X, seq_lengths=LENGTHS))
    read = np.asarray(nnx.RNN(cell, reverse=True)(X, seq_lengths=LENGTHS))
    for n, length in enumerate(LENGTHS):
        by_hand = np.asarray(nnx.RNN(cell)(X[n:n + 1, :length][:, ::-1]))[0]  # the valid steps, last first
        np.testing.assert_allclose(read[n, :length], by_hand, rtol=1e-6)
        np.testing.assert_allclose(kept[n, :length], by_hand[::-1], rtol=1e-6)
    assert not np.allclose(read[0], kept[0])  # the full-length sample: the two orders differ


def test_bidirectional_merge_fn_combines_the_two_directions_outputs(nnx):
    """nnx.Bidirectional(merge_fn=f) returns f(forward outputs, backward outputs); the default
    concatenates them (forward first)."""
    import jax.numpy as jnp

    def directions():
        return nnx.RNN(nnx.SimpleCell(I, H, rngs=nnx.Rngs(1))), nnx.RNN(nnx.SimpleCell(I, H, rngs=nnx.Rngs(2)))

    concatenated = np.asarray(nnx.Bidirectional(*directions())(X))
    forward_part, backward_part = concatenated[..., :H], concatenated[..., H:]
    for merge_fn, expected in ((jnp.add, forward_part + backward_part), (jnp.multiply, forward_part * backward_part)):
        merged = np.asarray(nnx.Bidirectional(*directions(), merge_fn=merge_fn)(X))
        np.testing.assert_array_equal(merged, expected)


@pytest.mark.parametrize("cell_class", ["LSTMCell", "OptimizedLSTMCell"])
def test_lstm_cells_apply_their_one_activation_fn_to_the_candidate_and_to_the_cell_state(nnx, cell_class):
    """activation_fn computes g and h = o * activation_fn(c): ONNX's (f, g, h) with g == h only."""
    import jax.numpy as jnp

    seen = []
    cell = getattr(nnx, cell_class)(I, H, activation_fn=lambda v: seen.append(v) or jnp.tanh(v), rngs=nnx.Rngs(0))
    (c1, _), _ = cell((np.zeros((N, H), np.float32), np.zeros((N, H), np.float32)), X[:, 0])
    assert len(seen) == 2
    np.testing.assert_array_equal(np.asarray(seen[1]), np.asarray(c1))  # the second call: the new cell state


@pytest.mark.parametrize(("onnx", "jax_name"), [
    (("Sigmoid",), "sigmoid"), (("Tanh",), "tanh"), (("Relu",), "relu"), (("HardSigmoid", 1 / 6, 0.5), "hard_sigmoid"),
    (("Softsign",), "soft_sign"), (("Softplus",), "softplus"), (("Elu", 0.8), "elu"), (("LeakyRelu", 0.1), "leaky_relu"),
])
def test_each_translated_activation_is_the_jax_nn_function_of_onnx_definition(nnx, onnx, jax_name):
    """The jax.nn function the adapter hands a cell computes the ONNX activation, parameters bound
    (float64, at points on both sides of every kink)."""
    from rnn_ref.adapters.flax.options import jax_activation, jax_nn_function
    from rnn_ref.core.activations import resolved

    activation = resolved(*onnx)
    assert jax_nn_function(activation)[0] == jax_name
    points = np.linspace(-7.0, 7.0, 281)
    np.testing.assert_allclose(np.asarray(jax_activation(activation)(points)), activation(points), rtol=1e-15,
                               atol=1e-16)


@pytest.mark.parametrize("onnx", [("HardSigmoid",), ("HardSigmoid", 0.3, 0.6), ("Affine", 0.5, 0.1),
                                  ("ThresholdedRelu", 0.2), ("ScaledTanh", 0.9, 1.1)])
def test_activations_jax_nn_lacks_have_no_translation(nnx, onnx):
    """ONNX's HardSigmoid default (alpha 0.2, Keras 2's hard_sigmoid) is not jax.nn.hard_sigmoid
    (alpha 1/6); Affine, ThresholdedRelu and ScaledTanh have no jax.nn function."""
    import jax

    from rnn_ref.adapters.flax.options import jax_nn_function
    from rnn_ref.core.activations import resolved

    activation = resolved(*onnx)
    assert jax_nn_function(activation) is None
    if onnx == ("HardSigmoid",):  # what translating it to jax.nn.hard_sigmoid would cost
        points = np.linspace(-7.0, 7.0, 281)
        difference = np.abs(np.asarray(jax.nn.hard_sigmoid(points)) - activation(points)).max()
        assert difference > 0.08  # measured: 1/12 at x = ±2.5, where ONNX's reaches 0 or 1


#: Option layers the matrix runs on neither Flax engine (LeakyRelu, Softplus, a tanh-mode RNN with Relu), by name.
OPTION_LAYERS = {
    "lstm-leakyrelu": dict(mode="lstm", activations=("Sigmoid", "LeakyRelu", "LeakyRelu"),
                           activation_alpha=(0.0, 0.2, 0.2)),
    "lstm-softsign-elu-rev-L2": dict(mode="lstm", activations=("Softsign", "Elu", "Elu"),
                                     activation_alpha=(0.0, 0.7, 0.7), reverse=True, num_layers=2),
    "gru-softsign-softplus-nobias": dict(mode="gru", bias=False, activations=("Softsign", "Softplus")),
    "rnn_tanh-relu-rev": dict(mode="rnn_tanh", activations=("Relu",), reverse=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("engine", "name"), [("flax", name) for name in OPTION_LAYERS] + [
    ("flax-optimized", name) for name in OPTION_LAYERS if OPTION_LAYERS[name]["mode"] == "lstm"])
def test_option_layers_outside_the_matrix_match_the_reference(engine_or_skip, engine, name, dtype):
    from rnn_ref import Params, RNNSpec, State, forward
    from rnn_ref.core.compare import TOLERANCES

    spec = RNNSpec(input_size=I, hidden_size=H, layout="NTC", **OPTION_LAYERS[name])
    adapter = engine_or_skip(engine)
    rng = np.random.default_rng(7)
    params = Params.random(spec, seed=7, dtype=dtype)
    x = rng.standard_normal((N, T, I)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((spec.num_layers, N, H))).astype(dtype)
    state = State(h0, h0[::-1].copy() if spec.has_cell_state else None)
    got = adapter.run(spec, adapter.build(spec, params), x, state, LENGTHS)
    want = forward(spec, params, x, state, LENGTHS)
    tolerance = TOLERANCES[dtype]
    for tensor in ("output", "h_n", "c_n"):
        if getattr(want, tensor) is not None:
            np.testing.assert_allclose(getattr(got, tensor), getattr(want, tensor), rtol=tolerance.rtol,
                                       atol=tolerance.atol, err_msg=tensor)


@pytest.mark.parametrize(("engine", "case_id"), [
    ("flax", "lstm-L1-uni-rev-hardsig3-TNC-f32"), ("flax", "rnn_tanh-L1-bi-mul-TNC-h0-lenshort-f32"),
    ("flax-optimized", "lstm-L1-bi-sum-NTC-h0-len-nobias-f64")])
def test_option_cases_differentiate_live(engine, case_id, engine_or_skip):
    """The live gradient subset (slow_gradients: the pairwise subset of the small matrix) holds no
    option case; these differentiate reverse, a gate activation and two merge modes live (every
    option case: ``pytest --full-gradients``)."""
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_gradient_case

    result = run_gradient_case(engine_or_skip(engine), case_by_id(case_id))
    assert result.status == PASS, result.report()
