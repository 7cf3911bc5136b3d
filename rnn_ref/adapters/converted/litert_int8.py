"""A NumPy emulation of LiteRT's dynamic-range (hybrid) int8 model of the Keras layers (keras-litert-int8's reference).

TFLiteConverter's dynamic-range quantization (``optimizations=[DEFAULT]``) stores each weight
matrix of a matmul that has at least 1024 elements as int8, symmetric per output channel
(``w ≈ q · s[row]``, ``q`` in [-127, 127], zero point 0; the FULLY_CONNECTED weights are (out, in):
the Keras kernel slice transposed); smaller ones, and every bias, stay float32. At run time the
hybrid FULLY_CONNECTED kernel (``asymmetric_quantize_inputs``) quantizes its *input* per batch
row (``asymmetric_row``: TFLite's ``AsymmetricQuantizeFloats``, range [min(0, v), max(0, v)] over
255 steps, the zero point nudged into [-128, 127], rounding half away from zero) and computes
``(x_q − zp) · q^T · s_x · s_w``; the rest of the cell is float32.

The matmuls are Keras 3's cells' (implementation 2), each a ``operand``: a native kernel's
columns ``[start:stop]``:

* SimpleRNN: ``x @ kernel``, ``h @ recurrent_kernel``;
* LSTM: ``x @ kernel``, ``h @ recurrent_kernel`` (gates i f c o);
* GRU reset_after: ``x @ kernel``, ``h @ recurrent_kernel`` (gates z r h, bias (2, 3H));
* GRU reset_before: ``x @ kernel``, ``h @ recurrent_kernel[:, :2H]``, ``(r ⊙ h) @ recurrent_kernel[:, 2H:]``.

``held`` holds, for each operand the model quantized, ``"{operand}.int8"`` (out, in) and
``"{operand}.scale"`` (out,), as read off the .tflite file (rnn_ref/adapters/converted/litert_quantized.py);
an operand without them is computed in float. ``forward`` runs the layer as the reference does
(section 2 of the design: stacking, directions, merge modes, lengths: padded steps do not exist,
zeros in the output), in float64 on those operands. The emulation is exact but for one thing: where
a quantized input lands within rounding distance of a half step, LiteRT's float32 arithmetic and
this one may round it to neighbouring integers (measured: not on the cases judged, T ≤ 200).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.forward import merged

#: TFLiteConverter quantizes a weight tensor with at least this many elements (its ``min_elements``).
QUANTIZED_FROM = 1024


def operand(native: str, start: int, stop: int) -> str:
    """The name of a matmul's weights: columns [start:stop] of the native array ``native``."""
    return f"{native}[{start}:{stop}]"


def unit_names(mapping: WeightMapping, layer: int, direction: str) -> tuple[str, str, str | None]:
    """The native kernel, recurrent kernel and bias (None without) of one unit, read off the rows."""
    found: dict[str, str] = {}
    for row in mapping.rows:
        for key in row.canonical:
            prefix = f"l{layer}.{direction}."
            if key.startswith(prefix):
                found.setdefault(key[len(prefix):].split(".")[0], row.native)
    return found["w_ih"], found["w_hh"], found.get("b_ih")


def unit_operands(spec: RNNSpec, kernel: str, recurrent: str, hidden: int) -> list[tuple[str, str, int, int]]:
    """The matmuls of one unit's cell: (role, native, start, stop); roles ``x``, ``h``, ``h_n`` (reset_before)."""
    width = len(spec.gates) * hidden
    if spec.mode == "gru" and spec.gru_variant == "reset_before":
        return [("x", kernel, 0, width), ("h", recurrent, 0, 2 * hidden), ("h_n", recurrent, 2 * hidden, width)]
    return [("x", kernel, 0, width), ("h", recurrent, 0, width)]


def quantized_anywhere(spec: RNNSpec) -> bool:
    """Whether any matmul weight of the layer has ``QUANTIZED_FROM`` elements or more (else int8 changes nothing)."""
    gates, hidden, state = len(spec.gates), spec.hidden_size, spec.state_size
    inputs = [spec.input_size] + [spec.output_size if spec.merge_mode == "concat" else state] * (spec.num_layers - 1)
    recurrent = [state * 2 * hidden, state * hidden] if spec.gru_variant == "reset_before" else [state * gates * hidden]
    return max(max(i * gates * hidden for i in inputs), max(recurrent)) >= QUANTIZED_FROM


def asymmetric_row(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite's per-row input quantization of (N, K) float32 values: (q (N, K) int, scale (N,), zero point (N,))."""
    values = values.astype(np.float32)
    rmin = np.minimum(0.0, values.min(axis=1)).astype(np.float64)
    rmax = np.maximum(0.0, values.max(axis=1)).astype(np.float64)
    empty = rmin == rmax
    scale = np.where(empty, 1.0, (rmax - rmin) / 255.0)
    from_min, from_max = -128.0 - rmin / scale, 127.0 - rmax / scale
    use_min = (128.0 + np.abs(rmin / scale)) < (127.0 + np.abs(rmax / scale))
    zero = np.where(use_min, from_min, from_max)
    rounded = np.sign(zero) * np.floor(np.abs(zero) + 0.5)  # C's round: half away from zero
    nudged = np.where(zero <= -128.0, -128.0, np.where(zero >= 127.0, 127.0, rounded))
    nudged = np.where(empty, 0.0, nudged)
    scale32 = scale.astype(np.float32)
    inverse = (np.float32(1.0) / scale32).astype(np.float32)
    scaled = (nudged.astype(np.float32)[:, None] + values * inverse[:, None]).astype(np.float32)
    q = np.clip(np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5)), -128, 127)
    q = np.where(empty[:, None], 0.0, q)
    return q, scale32.astype(np.float64), nudged


def matmul(held: dict[str, np.ndarray], name: str, weights: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``v @ weights`` (weights (in, out)), or the hybrid int8 product where the model quantized ``name``."""
    if f"{name}.int8" not in held:
        return lambda v: v @ weights
    q_w, s_w = held[f"{name}.int8"].astype(np.float64), held[f"{name}.scale"].astype(np.float64)

    def hybrid(v: np.ndarray) -> np.ndarray:
        q_x, s_x, zero = asymmetric_row(v)
        return ((q_x - zero[:, None]) @ q_w.T) * s_x[:, None] * s_w[None, :]

    return hybrid


def forward(spec: RNNSpec, mapping: WeightMapping, native: dict[str, np.ndarray], held: dict[str, np.ndarray],
            x: np.ndarray, initial_state: State | None, lengths: np.ndarray | None) -> RNNOutput:
    """The layer as the hybrid int8 model computes it; shapes as rnn_ref.oracle.forward's (x in ``spec.layout``)."""
    seq = np.asarray(x, np.float64)
    seq = seq if spec.layout == "TNC" else seq.transpose(1, 0, 2)
    steps, batch = seq.shape[:2]
    valid = np.arange(steps)[:, None] < (np.full(batch, steps) if lengths is None else np.asarray(lengths))[None, :]
    hidden, state = spec.hidden_size, spec.state_size
    h_n: list[np.ndarray] = []
    c_n: list[np.ndarray] = []
    for layer in range(spec.num_layers):
        outs = []
        for direction in spec.directions:
            unit = len(h_n)
            kernel, recurrent, bias_name = unit_names(mapping, layer, direction)
            products = {role: matmul(held, operand(name, a, b), native[name][:, a:b].astype(np.float64))
                        for role, name, a, b in unit_operands(spec, kernel, recurrent, hidden)}
            bias = None if bias_name is None else native[bias_name].astype(np.float64)
            h = np.zeros((batch, state)) if initial_state is None else np.asarray(initial_state.h[unit], np.float64)
            c = None
            if spec.has_cell_state:
                c = np.zeros((batch, hidden)) if initial_state is None or initial_state.c is None \
                    else np.asarray(initial_state.c[unit], np.float64)
            out = np.zeros((steps, batch, state))
            order = range(steps - 1, -1, -1) if direction == "bwd" else range(steps)
            for t in order:
                new_h, new_c = cell(spec, products, bias, seq[t], h, c)
                keep = valid[t][:, None]
                h = np.where(keep, new_h, h)
                c = None if c is None or new_c is None else np.where(keep, new_c, c)
                out[t] = np.where(keep, new_h, 0.0)
            outs.append(out)
            h_n.append(h)
            if c is not None:
                c_n.append(c)
        seq = outs[0] if len(outs) == 1 else merged(spec.merge_mode, outs[0], outs[1])
    output = seq if spec.layout == "TNC" else seq.transpose(1, 0, 2)
    return RNNOutput(np.ascontiguousarray(output), np.stack(h_n), np.stack(c_n) if spec.has_cell_state else None)


def cell(spec: RNNSpec, products: dict[str, Callable[[np.ndarray], np.ndarray]], bias: np.ndarray | None,
         x: np.ndarray, h: np.ndarray, c: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """One Keras 3 cell step (implementation 2) on (N, ·) float64 rows: (h', c')."""
    acts = spec.resolved_activations
    hidden = spec.hidden_size
    if spec.mode == "lstm":
        assert c is not None
        z = products["x"](x) + products["h"](h) + (0.0 if bias is None else bias)
        i, f, g, o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))  # Keras: i f c o
        c = acts[0](f) * c + acts[0](i) * acts[1](g)
        return acts[0](o) * acts[2](c), c
    if spec.mode == "gru":
        input_bias, recurrent_bias = (0.0, 0.0) if bias is None else (bias, None) if bias.ndim == 1 \
            else (bias[0], bias[1])
        matrix_x = products["x"](x) + input_bias
        if spec.gru_variant == "reset_after":
            inner = products["h"](h) + (0.0 if recurrent_bias is None else recurrent_bias)
            z = acts[0](matrix_x[:, :hidden] + inner[:, :hidden])
            r = acts[0](matrix_x[:, hidden:2 * hidden] + inner[:, hidden:2 * hidden])
            candidate = acts[1](matrix_x[:, 2 * hidden:] + r * inner[:, 2 * hidden:])
        else:
            inner = products["h"](h)
            z = acts[0](matrix_x[:, :hidden] + inner[:, :hidden])
            r = acts[0](matrix_x[:, hidden:2 * hidden] + inner[:, hidden:])
            candidate = acts[1](matrix_x[:, 2 * hidden:] + products["h_n"](r * h))
        return z * h + (1 - z) * candidate, None
    pre = products["x"](x) + (0.0 if bias is None else bias) + products["h"](h)
    return acts[0](pre), None
