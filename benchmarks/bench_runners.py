"""The engines benchmarks/bench_reference.py times, each built on the same weights and input.

A runner is a function of no arguments returning the output sequence (T, N, D*H) (or, for a
backward runner, the gradient of x). Every builder imports its framework when called, so the
benchmark's parent process, which only starts children and reports, imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import load_adapter
from rnn_ref.cases.cotangents import Cotangents

Runner = Callable[[], np.ndarray]  # the output sequence (T, N, D*H), or a gradient of x


def torch_runner(spec: RNNSpec, params: Params, x: np.ndarray, lengths: np.ndarray | None) -> Runner:
    """torch.nn.LSTM/GRU with the same weights, copied by the torch adapter's mapping rows."""
    adapter = load_adapter("torch")
    layer = adapter.build(spec, params)
    return lambda: adapter.run(spec, layer, x, None, lengths).output


def torch_gradient_runner(spec: RNNSpec, params: Params, x: np.ndarray, lengths: np.ndarray | None,
                          cotangents: Cotangents) -> Runner:
    """torch.autograd's forward and backward of the same layer: the gradient of x."""
    adapter = load_adapter("torch")
    layer = adapter.build(spec, params)
    return lambda: adapter.run_gradients(spec, layer, x, None, lengths, cotangents).x


ONNX_GATES = {"lstm": ("i", "o", "f", "g"), "gru": ("z", "r", "n")}  # ONNX's stacking orders


def onnx_model(spec: RNNSpec, params: Params, ragged: bool) -> Any:
    """One ONNX LSTM/GRU node per layer; between layers Y (T, D, N, H) becomes (T, N, D*H)."""
    from onnx import TensorProto, helper, numpy_helper

    order = ONNX_GATES[spec.mode]
    op = "LSTM" if spec.mode == "lstm" else "GRU"
    direction = "bidirectional" if spec.bidirectional else "forward"
    nodes, initializers = [], []
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, spec.input_size])]
    if ragged:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, [None]))
    layer_input = "x"
    for layer in range(spec.num_layers):
        def stack(kind: str, layer: int = layer) -> np.ndarray:
            return np.stack([np.concatenate([params[f"l{layer}.{d}.{kind}.{g}"] for g in order])
                             for d in spec.directions])

        weights = {f"W{layer}": stack("w_ih"), f"R{layer}": stack("w_hh"),
                   f"B{layer}": np.concatenate([stack("b_ih"), stack("b_hh")], axis=1)}
        initializers += [numpy_helper.from_array(v.astype(np.float32), name) for name, v in weights.items()]
        attributes = dict(hidden_size=spec.hidden_size, direction=direction)
        if spec.mode == "gru":
            attributes["linear_before_reset"] = int(spec.gru_variant == "reset_after")
        node_inputs = [layer_input, *weights, "lengths" if ragged else ""]
        nodes.append(helper.make_node(op, node_inputs, [f"Y{layer}"], **attributes))
        nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3]))
        initializers.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), f"shape{layer}"))
        layer_input = f"out{layer}" if layer < spec.num_layers - 1 else "y"
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", f"shape{layer}"], [layer_input]))
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "bench", inputs, [output], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def onnxruntime_runner(model: Any, feeds: dict, threads: int) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feeds)[0]


def onnx_reference_runner(model: Any, feeds: dict) -> Runner:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    return lambda: evaluator.run(None, feeds)[0]


def numpy_loop_runner(spec: RNNSpec, params: Params, x: np.ndarray, lengths: np.ndarray | None) -> Runner:
    """The textbook loop: per step one matmul for all gates of x and one of h, then the cell."""
    H = spec.hidden_size
    gates = ("i", "f", "g", "o") if spec.mode == "lstm" else ("r", "z", "n")

    def unit(layer: int, d: str) -> tuple[np.ndarray, ...]:
        def stack(kind: str) -> np.ndarray:
            return np.concatenate([params[f"l{layer}.{d}.{kind}.{g}"] for g in gates])
        return stack("w_ih").T.copy(), stack("w_hh").T.copy(), stack("b_ih"), stack("b_hh")

    units = {(layer, d): unit(layer, d) for layer, d in spec.units()}
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    steps = x.shape[0]
    valid = np.arange(steps)[:, None] < (np.full(x.shape[1], steps) if lengths is None else lengths)[None, :]

    def run() -> np.ndarray:
        seq = x
        for layer in range(spec.num_layers):
            outputs = []
            for d in spec.directions:
                w_ih, w_hh, b_ih, b_hh = units[layer, d]
                h = np.zeros((x.shape[1], H), x.dtype)
                c = np.zeros_like(h)
                out = np.zeros((steps, x.shape[1], H), x.dtype)
                for t in reversed(range(steps)) if d == "bwd" else range(steps):
                    if spec.mode == "lstm":
                        i, f, g, o = np.split(seq[t] @ w_ih + b_ih + h @ w_hh + b_hh, 4, axis=1)
                        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                        h_new = sigmoid(o) * np.tanh(c_new)
                        c = np.where(valid[t][:, None], c_new, c)
                    else:
                        xr, xz, xn = np.split(seq[t] @ w_ih + b_ih, 3, axis=1)
                        hr, hz, hn = np.split(h @ w_hh + b_hh, 3, axis=1)
                        r, z = sigmoid(xr + hr), sigmoid(xz + hz)
                        h_new = (1 - z) * np.tanh(xn + r * hn) + z * h
                    h = np.where(valid[t][:, None], h_new, h)
                    out[t] = np.where(valid[t][:, None], h_new, 0)
                outputs.append(out)
            seq = np.concatenate(outputs, axis=-1)
        return seq

    return run


