"""The reference against steps written out by hand, one sample at a time with np.dot.

This is what the tutorials in shared/seeds do with Gluon, Keras and torch layers: take the
weights, compute h_1 = act(W_ih x_1 + b_ih + W_hh h_0 + b_hh) (and so on) with plain dot
products, and compare with what the layer returned. Here the layer is ``rnn_ref.forward``.
Each helper below is the textbook equation of one cell for ONE sample (vectors, not batches),
so it shares no code path with the batched reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.cases.matrix import VARIANTS


def sig(v: np.ndarray) -> np.ndarray:
    return np.array([1.0 / (1.0 + math.exp(-float(a))) for a in v])


def pre(p: Params, unit: str, gate: str, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """W_i{gate} x + b_i{gate} + W_h{gate} h + b_h{gate} for one sample."""
    return (
        np.dot(p[f"{unit}.w_ih.{gate}"], x)
        + p[f"{unit}.b_ih.{gate}"]
        + np.dot(p[f"{unit}.w_hh.{gate}"], h)
        + p[f"{unit}.b_hh.{gate}"]
    )


def rnn_step(p, unit, x, h, c, variant):
    z = pre(p, unit, "h", x, h)
    return (np.tanh(z) if variant == "rnn_tanh" else np.maximum(z, 0.0)), None


def lstm_step(p, unit, x, h, c, variant):
    i, f = sig(pre(p, unit, "i", x, h)), sig(pre(p, unit, "f", x, h))
    g, o = np.tanh(pre(p, unit, "g", x, h)), sig(pre(p, unit, "o", x, h))
    c = f * c + i * g
    h = o * np.tanh(c)
    if f"{unit}.w_proj" in p:
        h = np.dot(p[f"{unit}.w_proj"], h)
    return h, c


def gru_step(p, unit, x, h, c, variant):
    r, z = sig(pre(p, unit, "r", x, h)), sig(pre(p, unit, "z", x, h))
    w_in, b_in = p[f"{unit}.w_ih.n"], p[f"{unit}.b_ih.n"]
    w_hn, b_hn = p[f"{unit}.w_hh.n"], p[f"{unit}.b_hh.n"]
    if variant == "gru":  # reset_after: r scales the whole recurrent term, bias included
        n = np.tanh(np.dot(w_in, x) + b_in + r * (np.dot(w_hn, h) + b_hn))
    else:  # reset_before: r scales h before the matmul; b_hn is not reset
        n = np.tanh(np.dot(w_in, x) + b_in + np.dot(w_hn, r * h) + b_hn)
    return (1 - z) * n + z * h, None


# The cell variants of the case matrix (rnn_ref.cases.matrix.VARIANTS), each with its hand-written step.
STEP = {"rnn_tanh": rnn_step, "rnn_relu": rnn_step, "lstm": lstm_step, "lstm_proj": lstm_step,
        "gru": gru_step, "gru_reset_before": gru_step}
CELLS = {variant: VARIANTS[variant] for variant in STEP}
I, H, N = 3, 4, 2


def make(cell: str, **layer) -> tuple[RNNSpec, Params]:
    spec = RNNSpec(input_size=I, hidden_size=H, **CELLS[cell], **layer)
    return spec, Params.random(spec, seed=11)


def run_by_hand(cell, p, unit, xs, h, c):
    """Unroll one unit over the steps ``xs`` of one sample; returns outputs, h, c."""
    outputs = []
    for x in xs:
        h, c = STEP[cell](p, unit, x, h, c, cell)
        outputs.append(h)
    return outputs, h, c


@pytest.mark.parametrize("steps", [1, 2], ids=["T1", "T2"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_unidirectional_layer_step_by_step(cell, steps):
    spec, p = make(cell)
    x = np.random.default_rng(0).normal(size=(steps, N, I))
    result = forward(spec, p, x)
    for n in range(N):
        h = np.zeros(spec.state_size)
        c = np.zeros(H)
        outputs, h, c = run_by_hand(cell, p, "l0.fwd", x[:, n], h, c)
        for t in range(steps):
            np.testing.assert_allclose(result.output[t, n], outputs[t], rtol=0, atol=1e-14)
        np.testing.assert_allclose(result.h_n[0, n], h, rtol=0, atol=1e-14)
        if spec.has_cell_state:
            np.testing.assert_allclose(result.c_n[0, n], c, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", list(CELLS))
def test_given_initial_state_is_where_step_one_starts(cell):
    spec, p = make(cell)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, N, I))
    h0 = rng.normal(size=(1, N, spec.state_size))
    c0 = rng.normal(size=(1, N, H))
    result = forward(spec, p, x, (h0, c0) if spec.has_cell_state else h0)
    for n in range(N):
        h1, c1 = STEP[cell](p, "l0.fwd", x[0, n], h0[0, n], c0[0, n], cell)
        np.testing.assert_allclose(result.h_n[0, n], h1, rtol=0, atol=1e-14)
        if spec.has_cell_state:
            np.testing.assert_allclose(result.c_n[0, n], c1, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_layer_backward_final_state_is_the_one_at_t0(cell):
    spec, p = make(cell, bidirectional=True)
    x = np.random.default_rng(2).normal(size=(2, N, I))
    result = forward(spec, p, x)
    R = spec.state_size
    for n in range(N):
        zeros_h, zeros_c = np.zeros(R), np.zeros(H)
        fwd_out, fwd_h, _ = run_by_hand(cell, p, "l0.fwd", [x[0, n], x[1, n]], zeros_h, zeros_c)
        # The backward direction reads x_1 first, then x_0; its output at t=0 is its LAST step.
        bwd_out, bwd_h, _ = run_by_hand(cell, p, "l0.bwd", [x[1, n], x[0, n]], zeros_h, zeros_c)
        # output[t] = [forward features | backward features]
        np.testing.assert_allclose(result.output[0, n], np.concatenate([fwd_out[0], bwd_out[1]]), atol=1e-14)
        np.testing.assert_allclose(result.output[1, n], np.concatenate([fwd_out[1], bwd_out[0]]), atol=1e-14)
        # h_n = [l0.fwd after t=1, l0.bwd after t=0]
        np.testing.assert_allclose(result.h_n[0, n], fwd_h, atol=1e-14)
        np.testing.assert_allclose(result.h_n[1, n], bwd_h, atol=1e-14)
        np.testing.assert_allclose(result.h_n[1, n], result.output[0, n, R:], atol=0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_two_layer_stack_feeds_layer0_outputs_to_layer1(cell):
    spec, p = make(cell, num_layers=2)
    x = np.random.default_rng(3).normal(size=(2, N, I))
    result = forward(spec, p, x)
    R = spec.state_size
    for n in range(N):
        layer0, h0_final, _ = run_by_hand(cell, p, "l0.fwd", x[:, n], np.zeros(R), np.zeros(H))
        layer1, h1_final, _ = run_by_hand(cell, p, "l1.fwd", layer0, np.zeros(R), np.zeros(H))
        for t in range(2):
            np.testing.assert_allclose(result.output[t, n], layer1[t], rtol=0, atol=1e-14)
        np.testing.assert_allclose(result.h_n[:, n], [h0_final, h1_final], rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", list(CELLS))
def test_ragged_bidirectional_layer_with_initial_states(cell):
    """Per sample: the forward direction runs x_0 … x_{len−1} from h0[l0.fwd], the backward one
    runs x_{len−1} … x_0 from h0[l0.bwd] (it starts at len − 1, not T − 1), padded steps are
    zeros and leave both states alone. Lengths (2, 1) with T = 3: no sample reaches the end."""
    spec, p = make(cell, bidirectional=True)
    rng = np.random.default_rng(4)
    steps, lengths = 3, [2, 1]
    x = rng.normal(size=(steps, N, I))
    h0 = rng.normal(size=(2, N, spec.state_size))  # units l0.fwd, l0.bwd
    c0 = rng.normal(size=(2, N, H))
    result = forward(spec, p, x, (h0, c0) if spec.has_cell_state else h0, lengths=lengths)
    for n, length in enumerate(lengths):
        steps_of_n = list(x[:length, n])
        fwd_out, fwd_h, fwd_c = run_by_hand(cell, p, "l0.fwd", steps_of_n, h0[0, n], c0[0, n])
        bwd_out, bwd_h, bwd_c = run_by_hand(cell, p, "l0.bwd", steps_of_n[::-1], h0[1, n], c0[1, n])
        for t in range(length):  # the backward output at t is its step number length − 1 − t
            np.testing.assert_allclose(result.output[t, n], np.concatenate([fwd_out[t], bwd_out[length - 1 - t]]),
                                       rtol=0, atol=1e-14)
        assert not result.output[length:, n].any()  # steps that do not exist are zeros
        np.testing.assert_allclose(result.h_n[:, n], [fwd_h, bwd_h], rtol=0, atol=1e-14)
        if spec.has_cell_state:
            np.testing.assert_allclose(result.c_n[:, n], [fwd_c, bwd_c], rtol=0, atol=1e-14)
