"""Bad input to ``forward`` is a ValueError that names the argument and the shapes involved."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import InputError, Params, RNNSpec, forward

LSTM = RNNSpec("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
GRU = RNNSpec("gru", input_size=3, hidden_size=4)
X = np.zeros((5, 2, 3))  # T=5, N=2, I=3
H0 = np.zeros((4, 2, 4))  # L*D=4, N=2, H=4
C0 = np.zeros((4, 2, 4))
with_nan = X.copy()
with_nan[1, 0, 2] = np.nan

BAD_INPUTS = [
    # (id, spec, forward keyword arguments, the message must contain)
    ("x-list", LSTM, dict(x=X.tolist()), "x must be a numpy.ndarray of float32 or float64, got list"),
    ("x-int", LSTM, dict(x=X.astype(np.int32)), "x must be float32 or float64, got dtype int32"),
    ("x-float16", LSTM, dict(x=X.astype(np.float16)), "got dtype float16"),
    ("x-rank2", LSTM, dict(x=X[0]), "x must have rank 3 (TNC), got shape (2, 3)"),
    ("x-features", LSTM, dict(x=np.zeros((5, 2, 4))), "x has 4 features (shape (5, 2, 4)), spec.input_size is 3"),
    ("x-empty", LSTM, dict(x=np.zeros((0, 2, 3))), "at least one step and one sample, got shape (0, 2, 3)"),
    ("x-nan", LSTM, dict(x=with_nan), "x contains NaN or Inf (first at index (1, 0, 2), value nan)"),
    ("x-inf", GRU, dict(x=np.full((1, 1, 3), np.inf)), "x contains NaN or Inf"),
    ("lstm-h0-only", LSTM, dict(x=X, initial_state=H0), "mode 'lstm' needs initial_state=(h0, c0)"),
    ("gru-with-c0", GRU, dict(x=X, initial_state=(H0[:1], C0[:1])), "mode 'gru' has no cell state"),
    ("h0-shape", LSTM, dict(x=X, initial_state=(H0[:2], C0)), "h0 must have shape (L*D, N, R) = (4, 2, 4), got (2, 2, 4)"),
    ("c0-shape", LSTM, dict(x=X, initial_state=(H0, C0[:, :1])), "c0 must have shape (L*D, N, H) = (4, 2, 4), got (4, 1, 4)"),
    ("h0-dtype", LSTM, dict(x=X, initial_state=(H0.astype(np.float32), C0)), "h0 has dtype float32 but x has dtype float64"),
    ("c0-nan", LSTM, dict(x=X, initial_state=(H0, C0 * np.nan)), "c0 contains NaN or Inf"),
    ("state-3-tuple", LSTM, dict(x=X, initial_state=(H0, C0, C0)), "initial_state must be None, an array h0, or a tuple"),
    ("lengths-float", LSTM, dict(x=X, lengths=[5.0, 2.0]), "lengths must be integers, got dtype float64"),
    ("lengths-shape", LSTM, dict(x=X, lengths=[5, 2, 1]), "lengths must have shape (N,) = (2,), got (3,)"),
    ("lengths-zero", LSTM, dict(x=X, lengths=[5, 0]), "lengths must lie in 1..T = 1..5, got [5, 0]"),
    ("lengths-too-long", LSTM, dict(x=X, lengths=[6, 2]), "lengths must lie in 1..T = 1..5, got [6, 2]"),
    ("precision", LSTM, dict(x=X, precision="float16"), "precision='float16' is not one of float64, input"),
]


@pytest.mark.parametrize(
    ("spec", "arguments", "message"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_named(spec, arguments, message):
    with pytest.raises(InputError) as error:
        forward(spec, Params.random(spec), **arguments)
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


def test_params_of_another_spec_are_rejected_naming_the_field():
    with pytest.raises(InputError, match=r"params were made for another layer: hidden_size=5 \(spec has 4\)"):
        forward(GRU, Params.random(GRU.replace(hidden_size=5)), X)


def test_params_serve_both_layouts():
    params = Params.random(GRU)  # made for TNC; the weights are the same for NTC
    ntc = forward(GRU.replace(layout="NTC"), params, X.transpose(1, 0, 2).copy())
    np.testing.assert_array_equal(ntc.output, forward(GRU, params, X).output.transpose(1, 0, 2))


def test_spec_must_be_an_rnnspec():
    with pytest.raises(InputError, match="spec must be an RNNSpec, got dict"):
        forward({"mode": "gru"}, Params.random(GRU), X)


def test_a_plain_mapping_of_blocks_is_checked_like_params():
    blocks = dict(Params.random(GRU))
    del blocks["l0.fwd.w_hh.z"]
    with pytest.raises(ValueError, match=r"missing keys: l0\.fwd\.w_hh\.z"):
        forward(GRU, blocks, X)
