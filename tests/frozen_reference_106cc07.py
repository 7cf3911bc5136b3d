"""FROZEN COPY of rnn_ref/oracle/forward.py's forward pass at commit 106cc07, before issue 15's speed-up.

Not part of the package and not a test module: the oracle of tests/test_reference_speedup.py,
which holds the fused, buffer-reusing forward to float64 results within 1e-15 (relative) of
this one, the unfused per-gate form that the hand-derived tests proved. Only the computation is
frozen (cells, unit loop, forward); input validation is imported from the current module,
since the speed-up did not touch it. Do not edit: it records what the numbers were.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnn_ref.core.errors import InputError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.checks import (
    PRECISIONS,
    _check_lengths,
    _check_params,
    _check_state,
    _check_x,
)

GateBlocks = Mapping[str, np.ndarray]


# --------------------------------------------------------------------------- cells
def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed without overflow for large |x|."""
    return np.exp(-np.logaddexp(0.0, -x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"rnn_tanh": np.tanh, "rnn_relu": relu}


def rnn_cell(
    x_gates: GateBlocks, h: np.ndarray, w_hh: GateBlocks, b_hh: GateBlocks, activation: Callable
) -> np.ndarray:
    """h' = act(W_ih x + b_ih + W_hh h + b_hh); ``x_gates['h']`` already holds W_ih x + b_ih."""
    return activation(x_gates["h"] + h @ w_hh["h"].T + b_hh["h"])


def lstm_cell(
    x_gates: GateBlocks,
    h: np.ndarray,
    c: np.ndarray,
    w_hh: GateBlocks,
    b_hh: GateBlocks,
    w_proj: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step; ``x_gates[g]`` holds W_ig x + b_ig. Returns (h', c')."""
    i = sigmoid(x_gates["i"] + h @ w_hh["i"].T + b_hh["i"])
    f = sigmoid(x_gates["f"] + h @ w_hh["f"].T + b_hh["f"])
    g = np.tanh(x_gates["g"] + h @ w_hh["g"].T + b_hh["g"])
    o = sigmoid(x_gates["o"] + h @ w_hh["o"].T + b_hh["o"])
    c_next = f * c + i * g
    h_next = o * np.tanh(c_next)
    if w_proj is not None:
        h_next = h_next @ w_proj.T
    return h_next, c_next


def gru_cell(
    x_gates: GateBlocks, h: np.ndarray, w_hh: GateBlocks, b_hh: GateBlocks, variant: str
) -> np.ndarray:
    """One GRU step; ``x_gates[g]`` holds W_ig x + b_ig.

    reset_after:  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))   (PyTorch, Gluon, cuDNN)
    reset_before: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)   (Keras reset_after=False)
    """
    r = sigmoid(x_gates["r"] + h @ w_hh["r"].T + b_hh["r"])
    z = sigmoid(x_gates["z"] + h @ w_hh["z"].T + b_hh["z"])
    if variant == "reset_after":
        n = np.tanh(x_gates["n"] + r * (h @ w_hh["n"].T + b_hh["n"]))
    else:
        n = np.tanh(x_gates["n"] + (r * h) @ w_hh["n"].T + b_hh["n"])
    return (1.0 - z) * n + z * h


# --------------------------------------------------------------------------- one unit
@dataclass(frozen=True)
class _UnitWeights:
    """The blocks of one (layer, direction), missing biases filled with zeros."""

    w_ih: dict[str, np.ndarray]
    w_hh: dict[str, np.ndarray]
    b_ih: dict[str, np.ndarray]
    b_hh: dict[str, np.ndarray]
    w_proj: np.ndarray | None

    @classmethod
    def of(cls, spec: RNNSpec, params: Params, layer: int, direction: str, dtype: np.dtype):
        blocks = {k: v.astype(dtype, copy=False) for k, v in params.unit(layer, direction).items()}
        zeros = np.zeros(spec.hidden_size, dtype)
        return cls(
            w_ih={g: blocks[f"w_ih.{g}"] for g in spec.gates},
            w_hh={g: blocks[f"w_hh.{g}"] for g in spec.gates},
            b_ih={g: blocks.get(f"b_ih.{g}", zeros) for g in spec.gates},
            b_hh={g: blocks.get(f"b_hh.{g}", zeros) for g in spec.gates},
            w_proj=blocks.get("w_proj"),
        )

    def input_projection(self, gates: Sequence[str], seq: np.ndarray) -> dict[str, np.ndarray]:
        """W_ig x_t + b_ig for every step and gate, as one matmul: (T, N, I) -> {g: (T, N, H)}."""
        w_all = np.concatenate([self.w_ih[g] for g in gates])
        b_all = np.concatenate([self.b_ih[g] for g in gates])
        projected = seq @ w_all.T + b_all
        return dict(zip(gates, np.split(projected, len(gates), axis=-1), strict=True))


def _run_unit(
    spec: RNNSpec,
    weights: _UnitWeights,
    seq: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None,
    valid: np.ndarray,
    reverse: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Run one direction of one layer over ``seq`` (T, N, I_l).

    ``valid`` (T, N) marks existing steps; at other steps the state is carried unchanged and
    the output is zero. Returns (outputs (T, N, R), h_n (N, R), c_n (N, H) or None).
    """
    x_gates = weights.input_projection(spec.gates, seq)
    steps = seq.shape[0]
    outputs = np.zeros((steps, seq.shape[1], spec.state_size), dtype=seq.dtype)
    h, c = h0, c0
    for t in reversed(range(steps)) if reverse else range(steps):
        x_t = {g: x_gates[g][t] for g in spec.gates}
        if spec.mode == "lstm":
            h_next, c_next = lstm_cell(x_t, h, c, weights.w_hh, weights.b_hh, weights.w_proj)
        elif spec.mode == "gru":
            h_next, c_next = gru_cell(x_t, h, weights.w_hh, weights.b_hh, spec.gru_variant), None
        else:
            activation = ACTIVATIONS[spec.mode]
            h_next, c_next = rnn_cell(x_t, h, weights.w_hh, weights.b_hh, activation), None
        exists = valid[t][:, None]
        h = np.where(exists, h_next, h)
        if c is not None:
            c = np.where(exists, c_next, c)
        outputs[t] = np.where(exists, h_next, 0.0)
    return outputs, h, c


# --------------------------------------------------------------------------- forward
def forward(
    spec: RNNSpec,
    params: Params | Mapping[str, np.ndarray],
    x: np.ndarray,
    initial_state: State | tuple | np.ndarray | None = None,
    lengths: Sequence[int] | np.ndarray | None = None,
    *,
    precision: str = "float64",
) -> RNNOutput:
    """Run the layer described by ``spec`` with canonical ``params`` on ``x``.

    Args:
        x: float32 or float64, (T, N, I) for TNC or (N, T, I) for NTC.
        initial_state: None (zeros), ``h0`` (L*D, N, R), or ``(h0, c0)`` for LSTM; same dtype as x.
        lengths: optional (N,) integers in 1..T: the number of existing steps per sample.
        precision: ``"float64"`` (default: compute and return float64, the reference truth) or
            ``"input"`` (compute and return in x's dtype, weights cast to it).

    Returns:
        ``RNNOutput(output, h_n, c_n)`` in ``spec.layout``; ``c_n`` is None unless LSTM.
    """
    params = _check_params(spec, params)
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    x = _check_x(spec, x)
    seq = x if spec.layout == "TNC" else x.transpose(1, 0, 2)
    steps, batch = seq.shape[:2]
    h0, c0 = _check_state(spec, initial_state, batch, x.dtype)
    valid = np.arange(steps)[:, None] < _check_lengths(lengths, batch, steps)[None, :]

    dtype = np.dtype(np.float64) if precision == "float64" else x.dtype
    seq = seq.astype(dtype)
    h_finals: list[np.ndarray] = []
    c_finals: list[np.ndarray] = []
    for layer in range(spec.num_layers):
        direction_outputs = []
        for direction in spec.directions:
            unit = len(h_finals)
            h_init = np.zeros((batch, spec.state_size), dtype) if h0 is None else h0[unit].astype(dtype)
            c_init = None
            if spec.has_cell_state:
                c_init = np.zeros((batch, spec.hidden_size), dtype) if c0 is None else c0[unit].astype(dtype)
            weights = _UnitWeights.of(spec, params, layer, direction, dtype)
            out, h_n, c_n = _run_unit(spec, weights, seq, h_init, c_init, valid, direction == "bwd")
            direction_outputs.append(out)
            h_finals.append(h_n)
            if c_n is not None:
                c_finals.append(c_n)
        seq = np.concatenate(direction_outputs, axis=-1)

    output = seq if spec.layout == "TNC" else seq.transpose(1, 0, 2)
    return RNNOutput(
        output=np.ascontiguousarray(output),
        h_n=np.stack(h_finals),
        c_n=np.stack(c_finals) if spec.has_cell_state else None,
    )
