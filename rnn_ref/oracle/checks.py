"""Validation of the oracle's arguments: every bad input is an InputError naming it, never a traceback.

``checked_inputs`` serves ``forward`` and ``backward`` alike (shapes in rnn_ref.oracle.forward).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rnn_ref.core.errors import InputError
from rnn_ref.core.params import FLOAT_DTYPES, Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import State

#: What ``forward`` and ``backward`` accept (``checked_inputs`` checks them): canonical params,
#: an initial state (State, an (h, c) tuple, or h alone) and per-sample lengths.
ParamsLike = Params | Mapping[str, np.ndarray]
StateLike = State | tuple | np.ndarray | None
LengthsLike = Sequence[int] | np.ndarray | None

PRECISIONS = ("float64", "input")


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


def checked_inputs(spec: object, params: object, x: object, initial_state: object, lengths: object,
                    precision: object) -> tuple[Params, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Every argument of ``forward`` (and ``backward``) validated: (params, x as (T, N, I), h0, c0,
    lengths (N,)); raises InputError naming the first bad one."""
    params = _check_params(spec, params)
    assert isinstance(spec, RNNSpec)  # _check_params raised InputError for anything else
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    x = _check_x(spec, x)
    seq = x if spec.layout == "TNC" else x.transpose(1, 0, 2)
    steps, batch = seq.shape[:2]
    h0, c0 = _check_state(spec, initial_state, batch, x.dtype)
    return params, seq, h0, c0, _check_lengths(lengths, batch, steps)
