"""MXNet Gluon 1.9.1 behaviours that differ from the canonical conventions, one small test each.

The adapters (rnn_ref/adapters/mxnet/fused.py and gluon_cell.py) handle every one of them; these
tests pin the behaviour itself, on the layers as a user builds them, so an MXNet release that
changes it is noticed here first. Strict xfails are engine defects: the day one is fixed,
its test passes and the run fails until the adapter's workaround or declaration goes. Each
states the defect's signature (what the engine does instead) and reproduces only by showing
it (rnn_ref.cases.defects): wrong in another way is an ordinary failure.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import RNNSpec
from rnn_ref.adapters.mxnet.fused import GluonAdapter, import_mxnet
from rnn_ref.cases.defects import KnownDefectReproduced, expect_defect, raises_as_declared

pytestmark = pytest.mark.engine

T, N, I, H, P = 4, 3, 2, 3, 2
LENGTHS = np.array([4, 2, 3])
X = np.random.default_rng(0).standard_normal((T, N, I))  # TNC


@pytest.fixture(scope="module")
def mx(engine_or_skip):
    engine_or_skip("gluon")
    return import_mxnet()


@pytest.fixture(scope="module")
def mx_cells(engine_or_skip):
    engine_or_skip("gluon-cell")
    return import_mxnet()


def structural(block) -> dict[str, tuple[int, ...]]:
    """Parameter names without the block prefix (``lstm0_l0_i2h_weight`` -> ``l0_i2h_weight``)."""
    return {name.removeprefix(block.prefix): tuple(p.shape) for name, p in block.collect_params().items()}


NEGATIVE = -np.abs(X[:1])  # one step whose pre-activations are all below zero (weights 1, biases 0)


def test_fused_rnn_defaults_to_relu(mx):
    """So the adapter always passes ``activation`` (torch and Keras default to tanh)."""
    rnn = mx.gluon.rnn
    layer = rnn.RNN(H, input_size=I, i2h_weight_initializer="ones")
    layer.initialize()
    assert not layer(mx.nd.array(NEGATIVE)).asnumpy().any()  # relu(<0) = 0, where tanh(<0) < 0


def test_rnn_cell_defaults_to_tanh(mx_cells):
    rnn = mx_cells.gluon.rnn
    cell = rnn.RNNCell(H, input_size=I, i2h_weight_initializer="ones")
    cell.initialize()
    output, _ = cell(mx_cells.nd.array(NEGATIVE[0]), cell.begin_state(batch_size=N))
    assert (output.asnumpy() < 0).all()


def test_structural_names_of_a_two_layer_bidirectional_lstm_with_projection(mx):
    rnn = mx.gluon.rnn
    layer = rnn.LSTM(H, 2, bidirectional=True, input_size=I, projection_size=P)
    layer.initialize()
    names = structural(layer)
    assert names["l0_i2h_weight"] == (4 * H, I)  # gates i f g o stacked along rows
    assert names["l0_h2h_weight"] == (4 * H, P)  # the recurrent input is the projected h
    assert names["r1_i2h_weight"] == (4 * H, 2 * P)  # "r" is the backward direction
    assert names["l1_h2r_weight"] == (P, H)
    assert names["r1_h2h_bias"] == (4 * H,)
    spec = RNNSpec("lstm", I, H, num_layers=2, bidirectional=True, proj_size=P)
    assert names == GluonAdapter().mapping(spec).native_shapes  # the rows describe the real layer


def test_save_parameters_writes_the_old_unfused_names(mx, tmp_path):
    rnn = mx.gluon.rnn
    layer = rnn.GRU(H, 2, bidirectional=True, input_size=I)
    layer.initialize()
    layer.save_parameters(str(tmp_path / "gru.params"))
    keys = set(mx.nd.load(str(tmp_path / "gru.params")))
    assert {"_unfused.0.l_cell.i2h_weight", "_unfused.1.r_cell.h2h_bias"} <= keys
    assert "l0_i2h_weight" not in keys


@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_states_are_layer_major_in_both_layouts(mx, layout):
    """h is (L·D, N, P) with projection and c is (L·D, N, H): NTC swaps only input and output."""
    rnn = mx.gluon.rnn
    layer = rnn.LSTM(H, 2, layout=layout, bidirectional=True, input_size=I, projection_size=P)
    layer.initialize()
    states = layer.begin_state(batch_size=N)
    assert [s.shape for s in states] == [(4, N, P), (4, N, H)]
    x = X if layout == "TNC" else X.transpose(1, 0, 2)
    output, final = layer(mx.nd.array(x), states)
    assert output.shape == (*x.shape[:2], 2 * P)
    assert [s.shape for s in final] == [(4, N, P), (4, N, H)]


LENGTHS_IGNORED = "apache/mxnet#19323: CPU float32 (oneDNN) ignores use_sequence_length; fix PR #19466 is not in 1.9.1"


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=LENGTHS_IGNORED)
def test_fused_layer_honours_sequence_length_in_float32(mx):
    rnn = mx.gluon.rnn
    layer = rnn.GRU(H, bidirectional=True, input_size=I, use_sequence_length=True)
    layer.initialize()
    output, _ = layer(mx.nd.array(X), layer.begin_state(batch_size=N), mx.nd.array(LENGTHS, dtype="int32"))
    output = output.asnumpy()
    plain = rnn.GRU(H, bidirectional=True, input_size=I, prefix=layer.prefix, params=layer.params)
    without_lengths = plain(mx.nd.array(X)).asnumpy()
    expect_defect(LENGTHS_IGNORED, "the output equals the same layer's without sequence_length",
                  correct=not output[2:, 1].any(),  # sample 1 has 2 steps: zeros after them
                  matches_signature=np.allclose(output, without_lengths, rtol=0, atol=1e-7),
                  seen=f"output at padded steps of sample 1: {output[2:, 1].tolist()}")


def test_fused_layer_refuses_sequence_length_in_float64_at_the_first_read(mx):
    rnn = mx.gluon.rnn
    layer = rnn.GRU(H, input_size=I, use_sequence_length=True, dtype="float64")
    layer.initialize()
    output, _ = layer(mx.nd.array(X, dtype="float64"), layer.begin_state(batch_size=N, dtype="float64"),
                      mx.nd.array(LENGTHS, dtype="int32"))  # no error yet: MXNet runs asynchronously
    with pytest.raises(mx.base.MXNetError, match=r"use_sequence_length option is only available for cuDNN"):
        output.asnumpy()


# LSTM state clipping (issue: "if Gluon 1.9.1 on CPU supports lstm_state_clip_min/max, add a
# clip option"): it does not, so RNNSpec has no clip option. These two tests are the evidence,
# and the xfail notices the day a CPU build honours the clip.
CLIP = 0.1


CLIPPING_IGNORED = "mxnet 1.9.1: LSTM state clipping is GPU-only; on CPU float32 it is ignored"


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=CLIPPING_IGNORED)
def test_lstm_state_clipping_bounds_the_cell_state_on_cpu_float32(mx):
    def c_n(**clip):
        layer = mx.gluon.rnn.LSTM(H, input_size=I, **clip)
        layer.initialize(mx.init.Constant(1.0))  # every gate saturates: c grows by about 1 per step
        _, (_, c) = layer(mx.nd.array(10 * np.abs(X)), layer.begin_state(batch_size=N))
        return c.asnumpy()

    clipped, unclipped = c_n(state_clip_min=-CLIP, state_clip_max=CLIP), c_n()
    expect_defect(CLIPPING_IGNORED, "c_n equals the unclipped layer's",
                  correct=np.abs(clipped).max() <= CLIP + 1e-6,
                  matches_signature=np.array_equal(clipped, unclipped), seen=f"c_n max {np.abs(clipped).max()}")


def test_lstm_state_clipping_is_refused_in_float64_on_cpu(mx):
    layer = mx.gluon.rnn.LSTM(H, input_size=I, state_clip_min=-CLIP, state_clip_max=CLIP, dtype="float64")
    layer.initialize()
    with pytest.raises(mx.base.MXNetError, match=r"clipping is only supported for GPU"):
        output, _ = layer(mx.nd.array(X, dtype="float64"), layer.begin_state(batch_size=N, dtype="float64"))
        output.asnumpy()  # MXNet may raise at the call or at the first read


RELU_FLOAT64 = "observed on mxnet 1.9.1 CPU: fused rnn_relu in float64 rounds to float32"


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=RELU_FLOAT64)
def test_fused_relu_rnn_computes_in_float64(mx):
    rnn = mx.gluon.rnn
    layer = rnn.RNN(I, activation="relu", input_size=I, dtype="float64")
    layer.initialize(mx.init.Zero())
    layer.l0_i2h_weight.set_data(mx.nd.array(np.eye(I), dtype="float64"))
    x = np.full((1, 1, I), 1 / 3)  # output = relu(x) = x exactly, in float64
    output = layer(mx.nd.array(x, dtype="float64")).asnumpy()
    expect_defect(RELU_FLOAT64, "the output is 1/3 rounded to float32, returned as float64",
                  correct=np.array_equal(output, x),
                  matches_signature=output.dtype == np.float64 and np.array_equal(output, x.astype(np.float32)),
                  seen=f"{output.ravel().tolist()} ({output.dtype})")


def test_cell_stack_states_are_flat_h_then_c_per_unit_and_default_to_float32(mx_cells):
    rnn, contrib = mx_cells.gluon.rnn, mx_cells.gluon.contrib
    stack = rnn.SequentialRNNCell()
    with stack.name_scope():
        stack.add(rnn.BidirectionalCell(contrib.rnn.LSTMPCell(H, P, input_size=I, prefix="l0_"),
                                        contrib.rnn.LSTMPCell(H, P, input_size=I, prefix="r0_")))
    stack.cast("float64")
    stack.initialize()
    assert set(structural(stack)) >= {"l0_i2h_weight", "l0_h2r_weight", "r0_h2h_bias"}  # the fused names
    states = stack.begin_state(batch_size=N)
    assert [s.shape for s in states] == [(N, P), (N, H), (N, P), (N, H)]  # l0.fwd h, c, l0.bwd h, c
    assert {s.dtype for s in states} == {np.float32}  # whatever the cells' dtype: pass them explicitly


BIDIRECTIONAL_CELL_NTC = (
    "Gluon 1.9.1: BidirectionalCell below the top of a SequentialRNNCell stacks its backward outputs "
    "twice in NTC with valid_length (no upstream report found); the gluon-cell adapter unrolls those in TNC"
)


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=BIDIRECTIONAL_CELL_NTC)
def test_two_bidirectional_cell_layers_unroll_ntc_with_valid_length(mx_cells):
    rnn = mx_cells.gluon.rnn
    stack = rnn.SequentialRNNCell()
    with stack.name_scope():
        for layer, inputs in enumerate([I, 2 * H]):
            stack.add(rnn.BidirectionalCell(rnn.GRUCell(H, input_size=inputs, prefix=f"l{layer}_"),
                                            rnn.GRUCell(H, input_size=inputs, prefix=f"r{layer}_")))
    stack.initialize()
    nd = mx_cells.nd
    # The signature: concat finds the backward outputs transposed to (T, N, H).
    transposed = rf"Incompatible input shape: expected \[{N},{T},-1\], got \[{T},{N},{H}\]"
    with raises_as_declared(BIDIRECTIONAL_CELL_NTC, mx_cells.base.MXNetError, transposed):
        output, _ = stack.unroll(T, nd.array(X.transpose(1, 0, 2)), layout="NTC", merge_outputs=True,
                                 valid_length=nd.array(LENGTHS))
    assert output.shape == (N, T, 2 * H)


# ----------------------------------------------------------------------------- options (design 2c)
def test_cell_activations_are_act_type_names_and_a_leaky_relu_block_breaks_unroll(mx_cells):
    """A LeakyReLU block as RNNCell's activation computes one step, but becomes a child of the cell,
    which unroll cannot reset; as LSTMCell's activation, which also computes h through
    F.Activation, it is refused: only a name of mx.nd.Activation's five."""
    rnn, nn = mx_cells.gluon.rnn, mx_cells.gluon.nn
    x = mx_cells.nd.array(NEGATIVE[0])
    cell = rnn.RNNCell(H, input_size=I, activation=nn.LeakyReLU(0.1), i2h_weight_initializer="ones")
    cell.initialize()
    output, _ = cell(x, cell.begin_state(batch_size=N))
    np.testing.assert_allclose(output.asnumpy(), 0.1 * NEGATIVE[0].sum(axis=1, keepdims=True).repeat(H, 1),
                               rtol=1e-6)
    with pytest.raises(AttributeError, match="'LeakyReLU' object has no attribute 'reset'"):
        cell.unroll(T, mx_cells.nd.array(X), layout="TNC", merge_outputs=True)
    lstm = rnn.LSTMCell(H, input_size=I, activation=nn.LeakyReLU(0.1))
    lstm.initialize()
    with pytest.raises(mx_cells.base.MXNetError, match=r"Invalid Input: 'LeakyReLU\(0.1\)', valid values are: "
                                                       r"\{'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'\}"):
        lstm(x, lstm.begin_state(batch_size=N))[0].asnumpy()


def test_gru_and_projecting_lstm_cells_and_bidirectional_cell_take_no_option(mx_cells):
    """GRUCell and LSTMPCell have no activation parameter, BidirectionalCell no merge mode."""
    import inspect

    gluon = mx_cells.gluon
    for block in (gluon.rnn.GRUCell, gluon.contrib.rnn.LSTMPCell, gluon.rnn.BidirectionalCell):
        parameters = set(inspect.signature(block.__init__).parameters)
        assert not {"activation", "recurrent_activation", "merge_mode", "merge_fn"} & parameters, block
    assert {"activation", "recurrent_activation"} <= set(inspect.signature(gluon.rnn.LSTMCell.__init__).parameters)


SOFTRELU_FLOAT64 = ("observed on mxnet 1.9.1 CPU: Activation(act_type='softrelu') returns x itself above x = 20, "
                    "in float64 as in float32 (mshadow_op::softrelu's threshold); no upstream report found")


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=SOFTRELU_FLOAT64)
def test_softrelu_is_softplus_in_float64(mx_cells):
    """Softplus through gluon-cell: random layers stay far below 20; this pins where it stops."""
    x = np.array([19.5, 20.5, 21.0])
    output = mx_cells.nd.Activation(mx_cells.nd.array(x, dtype="float64"), act_type="softrelu").asnumpy()
    expect_defect(SOFTRELU_FLOAT64, "the output is x itself above 20 (log(1 + e^x) below it)",
                  correct=np.allclose(output, np.logaddexp(0.0, x), rtol=1e-15, atol=0),
                  matches_signature=np.array_equal(output[1:], x[1:]) and output[0] == np.logaddexp(0.0, x[0]),
                  seen=f"{(output - np.logaddexp(0.0, x)).tolist()} from log(1 + e^x)")


#: Option layers the matrix does not run on gluon-cell: Softplus, Softsign, Sigmoid, a named Relu.
CELL_OPTION_LAYERS = {
    "lstm-sigmoid-softplus": ("lstm-L2-bi-NTC-h0-len-f64", dict(activations=("Sigmoid", "Softplus", "Softplus"))),
    "lstm-softsign-relu": ("lstm-L1-uni-TNC-h0-f32", dict(activations=("Softsign", "Relu", "Relu"))),
    "rnn_tanh-softplus": ("rnn_tanh-L2-uni-TNC-h0-len-f64", dict(activations=("Softplus",))),
    "rnn_tanh-relu": ("rnn_tanh-L1-bi-NTC-h0-len-f32", dict(activations=("Relu",))),
    "rnn_relu-sigmoid": ("rnn_relu-L1-uni-NTC-f64", dict(activations=("Sigmoid",))),
}


@pytest.mark.parametrize("name", list(CELL_OPTION_LAYERS))
def test_cell_option_layers_outside_the_matrix_match_the_reference(name, engine_or_skip):
    import dataclasses

    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import PASS, run_case, run_gradient_case

    adapter = engine_or_skip("gluon-cell")
    base, fields = CELL_OPTION_LAYERS[name]
    plain = case_by_id(base)
    case = dataclasses.replace(plain, spec=plain.spec.replace(**fields))
    for run in (run_case, run_gradient_case):
        result = run(adapter, case)
        assert result.status == PASS, result.report()


@pytest.mark.parametrize(("base", "named", "status"), [
    ("rnn_tanh-L2-bi-TNC-h0-f32", "Relu", "pass"),
    ("rnn_tanh-L1-uni-NTC-f64", "Relu", "known defect"),  # the relu kernel, which rounds float64 to float32
    ("rnn_relu-L1-uni-NTC-f64", "Tanh", "pass"),  # the tanh kernel: not rnn_relu's defect
])
def test_a_fused_rnn_that_names_its_activation_is_the_mode_of_that_name(base, named, status, engine_or_skip):
    import dataclasses

    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.runner import run_case

    adapter = engine_or_skip("gluon")
    plain = case_by_id(base)
    case = dataclasses.replace(plain, spec=plain.spec.replace(activations=(named,)))
    result = run_case(adapter, case)
    assert result.status == status, result.report()
