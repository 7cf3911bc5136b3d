"""Tiny layers whose outputs are derived by hand, to 1e-12.

Weights are chosen so that gates take exact values, a different one for each gate of a cell
(so a swap of two gates, or of z and 1 − z, changes the result): σ(0) = 1/2, σ(ln 3) = 3/4,
σ(ln 4) = 4/5, σ(−ln 4) = 1/5, tanh(ln 2) = 3/5, tanh(ln 4) = 15/17, and in general
tanh(a·ln 2) = (2^(2a) − 1)/(2^(2a) + 1).
Each expected value is the closed form at the end of its derivation (evaluated with ``math``,
never with rnn_ref); the comments give the decimal value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def scalar_params(spec: RNNSpec, **values: float) -> Params:
    """Params of a 1-unit layer (I = H = 1): every block 0 except the ones named."""
    blocks = {}
    for key, value in Params.random(spec).items():
        blocks[key] = np.full(value.shape, values.pop(key.replace("l0.fwd.", "").replace(".", "_"), 0.0))
    assert not values, f"unknown blocks {values}"
    return Params(spec, blocks)


def column(*values: float) -> np.ndarray:
    """A (T, N=1, I=1) input."""
    return np.array(values, dtype=np.float64).reshape(-1, 1, 1)


def test_rnn_relu_two_steps():
    spec = RNNSpec("rnn_relu", 1, 1)
    params = scalar_params(spec, w_ih_h=2.0, w_hh_h=-1.0, b_ih_h=0.5)
    result = forward(spec, params, column(1.0, 3.0))
    # h1 = relu(2·1 + 0.5 − 1·0) = 2.5;  h2 = relu(2·3 + 0.5 − 1·2.5) = 4
    assert result.output.ravel().tolist() == [2.5, 4.0]
    assert result.h_n.ravel().tolist() == [4.0]


def test_rnn_tanh_two_steps():
    spec = RNNSpec("rnn_tanh", 1, 1)
    params = scalar_params(spec, w_ih_h=2.0, w_hh_h=-1.0, b_ih_h=0.5)
    result = forward(spec, params, column(1.0, 3.0))
    h1 = math.tanh(2.5)  # 0.9866142981514303
    h2 = math.tanh(6.5 - h1)  # tanh(5.5133857018...) = 0.99996748...
    np.testing.assert_allclose(result.output.ravel(), [h1, h2], rtol=0, atol=1e-12)


def test_lstm_two_steps():
    spec = RNNSpec("lstm", 1, 1)
    params = scalar_params(spec, b_ih_i=LN3, w_ih_g=LN2, w_hh_g=1.0, b_hh_o=LN4)
    result = forward(spec, params, column(1.0, 2.0))
    # Step 1 (x = 1, h0 = c0 = 0); every gate takes its own value, so a swap of any two shows:
    #   i = σ(ln 3) = 3/4,  f = σ(0) = 1/2,  g = tanh(ln 2 · 1) = 3/5,  o = σ(ln 4) = 4/5
    #   c1 = f·0 + i·g = 9/20
    #   h1 = o·tanh(c1) = 0.8·tanh(0.45) = 0.33751920420000636
    c1 = 9 / 20
    h1 = 0.8 * math.tanh(c1)
    # Step 2 (x = 2): i, f, o as before; g = tanh(ln 2 · 2 + 1·h1) = tanh(ln 4 + h1)
    #   c2 = 1/2 · 9/20 + 3/4 · tanh(ln 4 + h1) = 0.9287404466454017
    #   h2 = 0.8·tanh(c2) = 0.5840048885840505
    c2 = 0.5 * c1 + 0.75 * math.tanh(LN4 + h1)
    h2 = 0.8 * math.tanh(c2)
    np.testing.assert_allclose(result.output.ravel(), [h1, h2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.h_n.ravel(), [h2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.c_n.ravel(), [c2], rtol=0, atol=1e-12)
    assert abs(result.c_n.ravel()[0] - 0.9287404466454017) < 1e-12


def test_lstm_projection_scales_the_emitted_and_the_recurrent_h():
    # H = 2, P = 1: both hidden units compute the step-1 LSTM above; w_proj = [1/2, 1/2]
    # averages them, so h1 = 0.8·tanh(0.45) again, and it is h1 (not the 2-vector) that
    # the recurrent weights w_hh (H, P) = (2, 1) read at step 2.
    spec = RNNSpec("lstm", 1, 2, proj_size=1)
    blocks = {k: np.zeros(v.shape) for k, v in Params.random(spec).items()}
    blocks["l0.fwd.b_ih.i"][:] = LN3
    blocks["l0.fwd.w_ih.g"][:] = LN2
    blocks["l0.fwd.w_hh.g"][:] = 1.0
    blocks["l0.fwd.b_hh.o"][:] = LN4
    blocks["l0.fwd.w_proj"][:] = 0.5
    result = forward(spec, Params(spec, blocks), column(1.0, 2.0))
    h1 = 0.8 * math.tanh(9 / 20)
    c2 = 0.5 * 9 / 20 + 0.75 * math.tanh(LN4 + h1)
    h2 = 0.8 * math.tanh(c2)  # mean of two equal units
    np.testing.assert_allclose(result.output.ravel(), [h1, h2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.c_n.ravel(), [c2, c2], rtol=0, atol=1e-12)


# Every gate asymmetric: r = σ(ln 3) = 3/4 and z = σ(−ln 4) = 1/5, so swapping r and z, or z and
# 1 − z, or applying r in the other place, each changes the numbers.
GRU_WEIGHTS = dict(w_ih_n=LN2, w_hh_n=1.0, b_ih_r=LN3, b_ih_z=-LN4, b_hh_n=LN2)


def test_gru_reset_after_two_steps():
    spec = RNNSpec("gru", 1, 1, gru_variant="reset_after")
    result = forward(spec, scalar_params(spec, **GRU_WEIGHTS), column(1.0, 0.0))
    # Every step: r = σ(ln 3) = 3/4, z = σ(−ln 4) = 1/(1 + 4) = 1/5 (only the biases reach them).
    # Step 1 (x = 1, h0 = 0): n = tanh(ln 2·1 + r·(1·0 + ln 2)) = tanh(7/4 · ln 2)
    #   = (2^(7/2) − 1)/(2^(7/2) + 1) = (8√2 − 1)/(8√2 + 1) = 0.8375793937167755
    #   h1 = (1 − z)·n + z·h0 = 4/5 · n = 0.6700635149734204
    h1 = 4 / 5 * (8 * math.sqrt(2) - 1) / (8 * math.sqrt(2) + 1)
    # Step 2 (x = 0): n = tanh(r·(1·h1 + ln 2)) = tanh(3/4 · (h1 + ln 2)) = 0.7708455196253684
    #   h2 = 4/5 · n + 1/5 · h1 = 0.7506891186949789
    h2 = 4 / 5 * math.tanh(0.75 * (h1 + LN2)) + h1 / 5
    np.testing.assert_allclose(result.output.ravel(), [h1, h2], rtol=0, atol=1e-12)
    assert result.output.ravel()[0] == pytest.approx(0.6700635149734204, abs=1e-15)


def test_gru_reset_before_two_steps():
    spec = RNNSpec("gru", 1, 1, gru_variant="reset_before")
    result = forward(spec, scalar_params(spec, **GRU_WEIGHTS), column(1.0, 0.0))
    # r = 3/4, z = 1/5 as above.
    # Step 1: n = tanh(ln 2·1 + 1·(r·0) + ln 2) = tanh(ln 4) = 15/17; b_hn is NOT scaled by r
    #   h1 = 4/5 · 15/17 = 12/17 = 0.7058823529411765
    h1 = 12 / 17
    # Step 2: n = tanh(1·(r·h1) + ln 2) = tanh(9/17 + ln 2) = 0.8404073955090011
    #   h2 = 4/5 · n + 1/5 · 12/17 = 0.8135023869954363
    h2 = 4 / 5 * math.tanh(9 / 17 + LN2) + h1 / 5
    np.testing.assert_allclose(result.output.ravel(), [h1, h2], rtol=0, atol=1e-12)
    assert result.output.ravel()[0] == pytest.approx(12 / 17, abs=1e-15)
