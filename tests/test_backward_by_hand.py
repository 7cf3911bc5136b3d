"""The reference backward on one step of one sample, derived by hand (I = H = 1: scalars).

Every case: T = 1, N = 1, x = 0.5, h0 = 0.2 (c0 = -0.3), cotangents grad_output = 1.0,
grad_h_n = 0.5 (grad_c_n = -2.0). With one step the output IS h_n, so the loss
    L = 1.0·h' + 0.5·h' (- 2.0·c')
gives dL/dh' = 1.5 (and dL/dc' = -2.0 directly). Each test writes the chain rule out in
scalars with the math module — no array code shared with rnn_ref.oracle.backward — and compares
every gradient to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, State, backward

X, H0, C0 = 0.5, 0.2, -0.3
G_OUT, G_H, G_C = 1.0, 0.5, -2.0
DH = G_OUT + G_H  # dL/dh' = 1.5


def sigma(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def run(spec: RNNSpec, weights: dict[str, float]):
    params = Params(spec, {f"l0.fwd.{k}": np.array(v).reshape((1, 1) if k.startswith("w_") else (1,))
                           for k, v in weights.items()})
    state = State(np.full((1, 1, 1), H0), np.full((1, 1, 1), C0) if spec.has_cell_state else None)
    grads = backward(spec, params, np.full((1, 1, 1), X), state, grad_output=np.full((1, 1, 1), G_OUT),
                     grad_h_n=np.full((1, 1, 1), G_H),
                     grad_c_n=np.full((1, 1, 1), G_C) if spec.has_cell_state else None)
    flat = {"x": grads.x.item(), "h0": grads.h0.item()}
    if spec.has_cell_state:
        flat["c0"] = grads.c0.item()
    return flat | {key.removeprefix("l0.fwd."): block.item() for key, block in grads.params.items()}


def assert_gradients(got: dict[str, float], expected: dict[str, float]) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12, rel=0), name


RNN = dict(w_ih=0.3, w_hh=-0.4, b_ih=0.1, b_hh=0.05)
RNN_WEIGHTS = {f"{k}.h": v for k, v in RNN.items()}


def test_rnn_tanh_by_hand():
    # a = w_ih·x + b_ih + w_hh·h0 + b_hh = 0.15 + 0.1 - 0.08 + 0.05 = 0.22;  h' = tanh(a)
    a = 0.22
    # dL/da = dL/dh' · (1 - tanh(a)²)
    da = DH * (1 - math.tanh(a) ** 2)
    # a is linear in everything: dx = w_ih·da, dh0 = w_hh·da, dW_ih = x·da, dW_hh = h0·da, db = da
    assert_gradients(run(RNNSpec("rnn_tanh", 1, 1), RNN_WEIGHTS), {
        "x": 0.3 * da, "h0": -0.4 * da, "w_ih.h": X * da, "w_hh.h": H0 * da, "b_ih.h": da, "b_hh.h": da})


def test_rnn_relu_by_hand():
    # a = 0.22 > 0, so relu'(a) = 1 and dL/da = dL/dh' = 1.5: every gradient is a plain product.
    assert_gradients(run(RNNSpec("rnn_relu", 1, 1), RNN_WEIGHTS), {
        "x": 0.45, "h0": -0.6, "w_ih.h": 0.75, "w_hh.h": 0.3, "b_ih.h": 1.5, "b_hh.h": 1.5})


def test_rnn_relu_below_zero_passes_no_gradient():
    # w_ih = -0.9: a = -0.45 + 0.1 - 0.08 + 0.05 = -0.38 < 0, so h' = 0 and relu'(a) = 0.
    grads = run(RNNSpec("rnn_relu", 1, 1), RNN_WEIGHTS | {"w_ih.h": -0.9})
    assert all(value == 0.0 for value in grads.values()), grads


LSTM_W_IH = dict(i=0.1, f=0.2, g=0.3, o=0.4)
LSTM_W_HH = dict(i=-0.1, f=0.1, g=-0.2, o=0.2)
LSTM_B_IH = dict(i=0.0, f=0.5, g=-0.1, o=0.1)
LSTM_B_HH = 0.05


def test_lstm_by_hand():
    a = {k: LSTM_W_IH[k] * X + LSTM_B_IH[k] + LSTM_W_HH[k] * H0 + LSTM_B_HH for k in "ifgo"}
    i, f, o = sigma(a["i"]), sigma(a["f"]), sigma(a["o"])
    g = math.tanh(a["g"])
    c = f * C0 + i * g                      # c' = f·c0 + i·g
    # h' = o·tanh(c'):  dL/do = dL/dh'·tanh(c');  c' reaches L directly (G_C) and through h'
    do = DH * math.tanh(c)
    dc = G_C + DH * o * (1 - math.tanh(c) ** 2)
    # c' = f·c0 + i·g:  df = dc·c0, di = dc·g, dg = dc·i, dc0 = dc·f
    df, di, dg, dc0 = dc * C0, dc * g, dc * i, dc * f
    # through the gate nonlinearities: σ' = σ(1-σ), tanh' = 1 - tanh²
    da = {"i": di * i * (1 - i), "f": df * f * (1 - f), "g": dg * (1 - g * g), "o": do * o * (1 - o)}
    expected = {"x": sum(LSTM_W_IH[k] * da[k] for k in "ifgo"),
                "h0": sum(LSTM_W_HH[k] * da[k] for k in "ifgo"), "c0": dc0}
    for k in "ifgo":
        expected |= {f"w_ih.{k}": X * da[k], f"w_hh.{k}": H0 * da[k], f"b_ih.{k}": da[k], f"b_hh.{k}": da[k]}
    weights = {f"w_ih.{k}": v for k, v in LSTM_W_IH.items()} | {f"w_hh.{k}": v for k, v in LSTM_W_HH.items()}
    weights |= {f"b_ih.{k}": v for k, v in LSTM_B_IH.items()} | {f"b_hh.{k}": LSTM_B_HH for k in "ifgo"}
    assert_gradients(run(RNNSpec("lstm", 1, 1), weights), expected)


GRU_W_IH = dict(r=0.3, z=-0.2, n=0.4)
GRU_W_HH = dict(r=0.1, z=0.25, n=-0.3)
GRU_B_IH = dict(r=0.05, z=0.1, n=-0.05)
GRU_B_HH = dict(r=-0.02, z=0.03, n=0.2)
GRU_WEIGHTS = ({f"w_ih.{k}": v for k, v in GRU_W_IH.items()} | {f"w_hh.{k}": v for k, v in GRU_W_HH.items()}
               | {f"b_ih.{k}": v for k, v in GRU_B_IH.items()} | {f"b_hh.{k}": v for k, v in GRU_B_HH.items()})


def gates_r_z():
    r = sigma(GRU_W_IH["r"] * X + GRU_B_IH["r"] + GRU_W_HH["r"] * H0 + GRU_B_HH["r"])
    z = sigma(GRU_W_IH["z"] * X + GRU_B_IH["z"] + GRU_W_HH["z"] * H0 + GRU_B_HH["z"])
    return r, z


def test_gru_reset_after_by_hand():
    r, z = gates_r_z()
    hn = GRU_W_HH["n"] * H0 + GRU_B_HH["n"]         # the recurrent term, reset after the matmul
    n = math.tanh(GRU_W_IH["n"] * X + GRU_B_IH["n"] + r * hn)
    # h' = (1-z)·n + z·h0:  dn = dh'(1-z), dz = dh'(h0 - n), and h0 directly: dh'·z
    dn, dz = DH * (1 - z), DH * (H0 - n)
    da_n = dn * (1 - n * n)
    dr, dhn = da_n * hn, da_n * r                  # a_n = w_in·x + b_in + r·hn
    da_r, da_z = dr * r * (1 - r), dz * z * (1 - z)
    expected = {
        "x": GRU_W_IH["r"] * da_r + GRU_W_IH["z"] * da_z + GRU_W_IH["n"] * da_n,
        "h0": DH * z + GRU_W_HH["r"] * da_r + GRU_W_HH["z"] * da_z + GRU_W_HH["n"] * dhn,
        "w_ih.r": X * da_r, "w_ih.z": X * da_z, "w_ih.n": X * da_n,
        "b_ih.r": da_r, "b_ih.z": da_z, "b_ih.n": da_n,
        "w_hh.r": H0 * da_r, "w_hh.z": H0 * da_z, "w_hh.n": H0 * dhn,
        "b_hh.r": da_r, "b_hh.z": da_z, "b_hh.n": dhn,   # b_hn sits inside r·(…): its gradient is dhn
    }
    assert_gradients(run(RNNSpec("gru", 1, 1, gru_variant="reset_after"), GRU_WEIGHTS), expected)


def test_gru_reset_before_by_hand():
    r, z = gates_r_z()
    n = math.tanh(GRU_W_IH["n"] * X + GRU_B_IH["n"] + GRU_W_HH["n"] * (r * H0) + GRU_B_HH["n"])
    dn, dz = DH * (1 - z), DH * (H0 - n)
    da_n = dn * (1 - n * n)
    # a_n = w_in·x + b_in + w_hn·(r·h0) + b_hn:  d(r·h0) = w_hn·da_n, so dr = w_hn·da_n·h0
    drh = GRU_W_HH["n"] * da_n
    dr = drh * H0
    da_r, da_z = dr * r * (1 - r), dz * z * (1 - z)
    expected = {
        "x": GRU_W_IH["r"] * da_r + GRU_W_IH["z"] * da_z + GRU_W_IH["n"] * da_n,
        "h0": DH * z + drh * r + GRU_W_HH["r"] * da_r + GRU_W_HH["z"] * da_z,
        "w_ih.r": X * da_r, "w_ih.z": X * da_z, "w_ih.n": X * da_n,
        "b_ih.r": da_r, "b_ih.z": da_z, "b_ih.n": da_n,
        "w_hh.r": H0 * da_r, "w_hh.z": H0 * da_z, "w_hh.n": r * H0 * da_n,
        "b_hh.r": da_r, "b_hh.z": da_z, "b_hh.n": da_n,   # b_hn is outside the reset: same as b_in
    }
    assert_gradients(run(RNNSpec("gru", 1, 1, gru_variant="reset_before"), GRU_WEIGHTS), expected)


def test_lstm_projection_by_hand():
    # H = 2, P = 1, the LSTM weights of test_lstm_by_hand on both hidden units, w_hh (H, P) = column.
    # h' = w_proj·(o ⊙ tanh(c')) with w_proj = [0.6, -0.7]; h0 is (P,) = 0.2.
    w_proj = (0.6, -0.7)
    a = {k: LSTM_W_IH[k] * X + LSTM_B_IH[k] + LSTM_W_HH[k] * H0 + LSTM_B_HH for k in "ifgo"}
    i, f, o, g = sigma(a["i"]), sigma(a["f"]), sigma(a["o"]), math.tanh(a["g"])
    c = f * C0 + i * g                  # both hidden units hold the same c' and the same h_cell
    h_cell = o * math.tanh(c)
    # dL/dh' = 1.5 (P = 1):  dW_proj[0, j] = 1.5·h_cell_j;  dh_cell_j = 1.5·w_proj_j
    expected = {"w_proj": [DH * h_cell, DH * h_cell]}
    dh_cell = [DH * w for w in w_proj]
    do = [d * math.tanh(c) for d in dh_cell]
    dc = [G_C + d * o * (1 - math.tanh(c) ** 2) for d in dh_cell]
    da = {"i": [d * g * i * (1 - i) for d in dc], "f": [d * C0 * f * (1 - f) for d in dc],
          "g": [d * i * (1 - g * g) for d in dc], "o": [d * o * (1 - o) for d in do]}
    expected["x"] = sum(LSTM_W_IH[k] * (da[k][0] + da[k][1]) for k in "ifgo")
    expected["h0"] = sum(LSTM_W_HH[k] * (da[k][0] + da[k][1]) for k in "ifgo")
    expected["c0"] = [d * f for d in dc]
    spec = RNNSpec("lstm", 1, 2, proj_size=1)
    blocks = {"l0.fwd.w_proj": np.array([w_proj])}
    for k in "ifgo":
        blocks |= {f"l0.fwd.w_ih.{k}": np.full((2, 1), LSTM_W_IH[k]), f"l0.fwd.w_hh.{k}": np.full((2, 1), LSTM_W_HH[k]),
                   f"l0.fwd.b_ih.{k}": np.full(2, LSTM_B_IH[k]), f"l0.fwd.b_hh.{k}": np.full(2, LSTM_B_HH)}
        expected |= {f"w_ih.{k}": [X * d for d in da[k]], f"w_hh.{k}": [H0 * d for d in da[k]],
                     f"b_ih.{k}": da[k], f"b_hh.{k}": da[k]}
    grads = backward(spec, Params(spec, blocks), np.full((1, 1, 1), X),
                     State(np.full((1, 1, 1), H0), np.full((1, 1, 2), C0)),
                     grad_output=np.full((1, 1, 1), G_OUT), grad_h_n=np.full((1, 1, 1), G_H),
                     grad_c_n=np.full((1, 1, 2), G_C))
    got = {"x": grads.x, "h0": grads.h0, "c0": grads.c0} | {k.removeprefix("l0.fwd."): v for k, v in grads.params.items()}
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(np.ravel(got[name]), np.ravel(value), rtol=0, atol=1e-12, err_msg=name)
