"""The NumPy reference: RNN (tanh/relu), LSTM (with projection) and GRU (both variants).

The cell functions below are the equations of design section 2, written with the
equations' own names. ``forward`` adds what layers add around a cell: stacking, two
directions, both layouts, initial states and per-sample lengths.

Shapes (T steps, N samples, L layers, D directions, H hidden, R = P or H, I_l layer input)::

    x       (T, N, I) for TNC, (N, T, I) for NTC
    output  (T, N, D*R) for TNC, (N, T, D*R) for NTC; forward features first
    h       (L*D, N, R), ordered l0.fwd, l0.bwd, l1.fwd, ...
    c       (L*D, N, H)  (LSTM only)

Padded steps (t >= lengths[n]) do not exist for sample n: neither direction consumes them,
the backward direction starts at lengths[n] - 1, and the reference writes zeros there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rnn_ref.errors import InputError
from rnn_ref.params import FLOAT_DTYPES, Params
from rnn_ref.spec import RNNSpec

PRECISIONS = ("float64", "input")

GateBlocks = Mapping[str, np.ndarray]


class State(NamedTuple):
    """Initial or final state: ``h`` (L*D, N, R) and, for LSTM only, ``c`` (L*D, N, H)."""

    h: np.ndarray
    c: np.ndarray | None = None


@dataclass(frozen=True)
class RNNOutput:
    """What a recurrent layer returns: the output sequence and the final states."""

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None


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


# --------------------------------------------------------------------------- validation
def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


def _check_float_array(name: str, value: object) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise InputError(f"{name} must be a numpy.ndarray of float32 or float64, got {_describe(value)}")
    if value.dtype not in FLOAT_DTYPES:
        raise InputError(f"{name} must be float32 or float64, got dtype {value.dtype}")
    if not np.isfinite(value).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise InputError(f"{name} contains NaN or Inf (first at index {bad}, value {value[bad]})")
    return value


def _check_x(spec: RNNSpec, x: object) -> np.ndarray:
    x = _check_float_array("x", x)
    if x.ndim != 3:
        raise InputError(f"x must have rank 3 ({spec.layout}), got shape {x.shape}")
    if x.shape[-1] != spec.input_size:
        raise InputError(
            f"x has {x.shape[-1]} features (shape {x.shape}), spec.input_size is {spec.input_size}"
        )
    if 0 in x.shape:
        raise InputError(f"x must have at least one step and one sample, got shape {x.shape}")
    return x


def _check_state(
    spec: RNNSpec, initial_state: object, batch: int, dtype: np.dtype
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if initial_state is None:
        return None, None
    if isinstance(initial_state, np.ndarray):
        initial_state = State(initial_state)
    if not isinstance(initial_state, (tuple, list)) or not 1 <= len(initial_state) <= 2:
        raise InputError(
            "initial_state must be None, an array h0, or a tuple (h0, c0) for LSTM; "
            f"got {_describe(initial_state)}"
        )
    h0, c0 = (*initial_state, None)[:2]
    layers_dirs = spec.num_layers * spec.num_directions
    wanted = {"h0": (layers_dirs, batch, spec.state_size), "c0": (layers_dirs, batch, spec.hidden_size)}
    if spec.has_cell_state and c0 is None:
        raise InputError(f"mode 'lstm' needs initial_state=(h0, c0); c0 of shape {wanted['c0']} is missing")
    if not spec.has_cell_state and c0 is not None:
        raise InputError(f"mode {spec.mode!r} has no cell state, but initial_state has a c0")
    for name, value in (("h0", h0), ("c0", c0)):
        if value is None:
            continue
        _check_float_array(name, value)
        if value.shape != wanted[name]:
            raise InputError(
                f"{name} must have shape (L*D, N, {'R' if name == 'h0' else 'H'}) = {wanted[name]}, "
                f"got {value.shape}"
            )
        if value.dtype != dtype:
            raise InputError(f"{name} has dtype {value.dtype} but x has dtype {dtype}; use one dtype")
    return h0, c0


def _check_lengths(lengths: object, batch: int, steps: int) -> np.ndarray:
    if lengths is None:
        return np.full(batch, steps)
    array = np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise InputError(f"lengths must be integers, got dtype {array.dtype} ({lengths!r})")
    if array.shape != (batch,):
        raise InputError(f"lengths must have shape (N,) = ({batch},), got {array.shape}")
    if array.min() < 1 or array.max() > steps:
        raise InputError(f"lengths must lie in 1..T = 1..{steps}, got {array.tolist()}")
    return array


def _check_params(spec: object, params: object) -> Params:
    if not isinstance(spec, RNNSpec):
        raise InputError(f"spec must be an RNNSpec, got {_describe(spec)}")
    if isinstance(params, Params):
        if params.spec == spec:
            return params
        if params.spec.replace(layout=spec.layout) == spec:  # weights do not depend on the layout
            return Params(spec, params)
        differ = [f"{name}={getattr(params.spec, name)!r} (spec has {getattr(spec, name)!r})"
                  for name in spec.to_dict() if name != "layout" and getattr(params.spec, name) != getattr(spec, name)]
        raise InputError(f"params were made for another layer: {', '.join(differ)}")
    if isinstance(params, Mapping):
        return Params(spec, params)
    raise InputError(f"params must be Params or a mapping of canonical blocks, got {_describe(params)}")


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
