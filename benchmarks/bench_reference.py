"""Time the NumPy reference against torch.nn.LSTM/GRU and its NumPy and ONNX peers.

    python benchmarks/bench_reference.py [--repeat 7] [--threads N]

On one machine, in one run, on the same weights and input (float32), for three shapes —
LSTM T=100 N=64 I=H=256; GRU (reset_after) of the same size; a 2-layer bidirectional LSTM
of the same size with ragged lengths — it times:

* ``rnn_ref.forward`` in float32 (``precision="input"``) and in float64 (its default truth);
* ``torch.nn.LSTM`` / ``torch.nn.GRU`` (lengths through ``pack_padded_sequence``), the yardstick;
* when installed: onnxruntime's ``LSTM``/``GRU`` operator, ``onnx.reference``'s (ONNX's own
  NumPy reference), and a plain NumPy loop with the gates fused in one matmul per step.

Then the backward, on the same shapes: ``rnn_ref.oracle.backward`` in float32 (which runs its own
forward pass first) against torch.autograd's forward and backward of the same layer (the torch
adapter's ``run_gradients``), with the same output cotangents.

Each time is the best of ``--repeat`` runs after one warm-up. Every engine runs on the same
number of threads (``--threads``, default: the CPUs this process may use): BLAS through
threadpoolctl, torch through ``torch.set_num_threads``, onnxruntime through its session
options. Prints each time, its ratio to torch, the largest difference to the float64
reference, and whether the goals hold (reference float32 <= 1.5x torch, float64 <= 3x torch,
reference float32 faster than both NumPy peers, reference backward <= 3x torch autograd).

Some machines set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (older OpenBLAS builds need them);
they slow a current NumPy. The header prints the BLAS kernel in use; to time the default
kernel, unset both for this command only: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref import Params, RNNSpec, backward, forward
from rnn_ref.adapters import ENGINES, load_adapter
from rnn_ref.cases.cotangents import Cotangents

STEPS, BATCH, FEATURES = 100, 64, 256
GOALS = {"float32": 1.5, "float64": 3.0, "backward": 3.0}  # reference time / torch float32 time
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Shape:
    name: str
    spec: RNNSpec
    ragged: bool = False


SHAPES = (
    Shape("LSTM", RNNSpec("lstm", FEATURES, FEATURES)),
    Shape("GRU", RNNSpec("gru", FEATURES, FEATURES, gru_variant="reset_after")),
    Shape("LSTM 2-layer bidirectional, ragged lengths",
          RNNSpec("lstm", FEATURES, FEATURES, num_layers=2, bidirectional=True), ragged=True),
)

Runner = Callable[[], np.ndarray]  # returns the output sequence (T, N, D*H)


def best_times(engines: dict[str, Runner], repeat: int, clock: Callable[[], float]) -> dict[str, float]:
    """Best of ``repeat`` runs of each engine after a warm-up, taken in turns (engine 1, 2, ..., 1, 2, ...)
    so that a change in the machine's load hits every engine alike."""
    for run in engines.values():
        run()  # warm-up: allocations, lazy imports, kernel selection
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeat):
        for name, run in engines.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return {name: min(values) for name, values in times.items()}


# --------------------------------------------------------------------------- threads
def limit_threads(threads: int, stack: ExitStack) -> str:
    """Put every engine on ``threads`` threads; returns what was set, for the header."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for libraries that read it when they load
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        blas = "BLAS threads NOT controlled (pip install threadpoolctl)"
    else:
        stack.enter_context(threadpool_limits(limits=threads))
        numpy_pools = [p for p in threadpool_info() if "numpy" in p["filepath"]] or threadpool_info()
        blas = ", ".join(f"{p['internal_api']} {p.get('version')} {p.get('architecture', '')} "
                         f"{p['num_threads']} threads" for p in numpy_pools)
    coretype = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if coretype:
        blas += f" (set here: {coretype}; see the module docstring)"
    if ENGINES["torch"].installed():
        import torch

        torch.set_num_threads(threads)
    return f"numpy {np.__version__} BLAS: {blas}"


# --------------------------------------------------------------------------- engines
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


def peers(shape: Shape, params: Params, x: np.ndarray, lengths: np.ndarray | None,
          threads: int) -> dict[str, Runner | str]:
    """The engines to time besides the reference: a runner, or why it is not timed."""
    spec = shape.spec
    engines: dict[str, Runner | str] = {}
    if ENGINES["torch"].installed():
        import torch

        engines[f"torch.nn.{spec.mode.upper()} {torch.__version__}"] = torch_runner(spec, params, x, lengths)
    else:
        engines["torch.nn"] = "not installed (pip install torch==2.13.0)"
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        engines["onnxruntime / onnx.reference"] = f"not installed ({error.name}; pip install onnx onnxruntime)"
    else:
        model = onnx_model(spec, params, lengths is not None)
        feeds = {"x": x} | ({} if lengths is None else {"lengths": lengths.astype(np.int32)})
        engines[f"onnxruntime {onnxruntime.__version__}"] = onnxruntime_runner(model, feeds, threads)
        if lengths is not None:  # onnx/reference/ops/op_lstm.py and op_gru.py ignore sequence_lens
            engines[f"onnx.reference {onnx.__version__}"] = "not timed: it ignores sequence_lens (wrong numbers)"
        else:
            engines[f"onnx.reference {onnx.__version__}"] = onnx_reference_runner(model, feeds)
    engines["numpy fused-gate loop"] = numpy_loop_runner(spec, params, x, lengths)
    return engines


# --------------------------------------------------------------------------- report
def bench_shape(shape: Shape, repeat: int, threads: int, clock: Callable[[], float]) -> list[str]:
    spec = shape.spec
    params = Params.random(spec, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, BATCH, FEATURES)).astype(np.float32)
    lengths = None
    if shape.ragged:
        lengths = rng.integers(STEPS // 2, STEPS + 1, size=BATCH)
        lengths[0] = STEPS
    print(f"\n{shape.name}: T={STEPS} N={BATCH} I=H={FEATURES}, {spec}", flush=True)
    truth = forward(spec, params, x, lengths=lengths).output
    engines: dict[str, Runner | str] = {
        "rnn_ref.forward float32": lambda: forward(spec, params, x, lengths=lengths, precision="input").output,
        "rnn_ref.forward float64": lambda: forward(spec, params, x, lengths=lengths).output,
        **peers(shape, params, x, lengths, threads),
    }
    times = time_and_print(engines, truth, repeat, clock, "torch.nn")
    return goals(shape, times) + bench_backward(shape, params, x, lengths, repeat, clock)


def bench_backward(shape: Shape, params: Params, x: np.ndarray, lengths: np.ndarray | None, repeat: int,
                   clock: Callable[[], float]) -> list[str]:
    """The reference backward (float32) against torch.autograd, both from the same cotangents;
    compared: the gradient of x."""
    spec = shape.spec
    output = forward(spec, params, x, lengths=lengths)
    rng = np.random.default_rng(1)
    grad_output = rng.standard_normal(output.output.shape).astype(np.float32)
    cotangents = Cotangents(grad_output, np.zeros(output.h_n.shape, np.float32),
                            None if output.c_n is None else np.zeros(output.c_n.shape, np.float32))
    truth = backward(spec, params, x, lengths=lengths, grad_output=grad_output).x
    engines: dict[str, Runner | str] = {
        "rnn_ref.oracle.backward float32": lambda: backward(spec, params, x, lengths=lengths, grad_output=grad_output,
                                                     precision="input").x,
    }
    if ENGINES["torch"].installed():
        engines["torch autograd fwd+bwd"] = torch_gradient_runner(spec, params, x, lengths, cotangents)
    else:
        engines["torch autograd"] = "not installed (pip install torch==2.13.0)"
    print("  backward (each with its forward pass), gradient of x:")
    times = time_and_print(engines, truth, repeat, clock, "torch autograd")
    torch_time = times.get("torch autograd fwd+bwd")
    if torch_time is None:
        return []
    ratio = times["rnn_ref.oracle.backward float32"] / torch_time
    ok = "met" if ratio <= GOALS["backward"] else "MISSED"
    return [f"{shape.name}: reference backward float32 / torch autograd = {ratio:.2f}x "
            f"(goal <= {GOALS['backward']}x): {ok}"]


def time_and_print(engines: dict[str, Runner | str], truth: np.ndarray, repeat: int, clock: Callable[[], float],
                   yardstick: str) -> dict[str, float]:
    """Time the runners, print each time, its ratio to the ``yardstick`` engine and its largest
    difference to ``truth`` (the float64 reference); an engine given as a string is why it is not timed."""
    timed = {name: run for name, run in engines.items() if not isinstance(run, str)}
    times = best_times(timed, repeat, clock)
    torch_time = next((t for n, t in times.items() if n.startswith(yardstick)), None)
    print(f"  {'engine':<30} {'time':>10} {'/ torch':>9} {'max |diff| to reference float64':>33}")
    for name, run in engines.items():
        if isinstance(run, str):
            print(f"  {name:<30} {run}")
            continue
        diff = np.abs(np.asarray(run(), np.float64) - truth).max()
        ratio = "" if torch_time is None else f"{times[name] / torch_time:8.2f}x"
        print(f"  {name:<30} {times[name] * 1e3:8.1f} ms {ratio:>9} {diff:33.2e}", flush=True)
    return times


def goals(shape: Shape, times: dict[str, float]) -> list[str]:
    torch_time = next((t for n, t in times.items() if n.startswith("torch.nn")), None)
    ref32, ref64 = times["rnn_ref.forward float32"], times["rnn_ref.forward float64"]
    lines = []
    if torch_time is not None:
        for dtype, ref in (("float32", ref32), ("float64", ref64)):
            ok = "met" if ref / torch_time <= GOALS[dtype] else "MISSED"
            lines.append(f"{shape.name}: reference {dtype} / torch = {ref / torch_time:.2f}x "
                         f"(goal <= {GOALS[dtype]}x): {ok}")
    for name in ("numpy fused-gate loop", *(n for n in times if n.startswith("onnx.reference"))):
        if name in times:
            ok = "met" if ref32 < times[name] else "MISSED"
            lines.append(f"{shape.name}: reference float32 / {name} = {ref32 / times[name]:.2f}x (goal < 1): {ok}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per engine; the best is kept")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for every engine (default: the CPUs this process may use)")
    parser.add_argument("--shapes", default=",".join(s.name.split()[0] + ("-bi" if s.ragged else "") for s in SHAPES),
                        help="comma-separated subset of: LSTM, GRU, LSTM-bi")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: this process's CPU time, steadier on a loaded "
                             "machine, meaningful with --threads 1 only")
    args = parser.parse_args()
    wanted = {name.strip() for name in args.shapes.split(",")}
    with ExitStack() as stack:
        print(f"{args.threads} thread(s) for every engine; best of {args.repeat} after a warm-up, engines in turns; "
              f"{args.clock} clock; float32 input")
        print(limit_threads(args.threads, stack))
        summary = []
        for shape in SHAPES:
            if shape.name.split()[0] + ("-bi" if shape.ragged else "") in wanted:
                summary += bench_shape(shape, args.repeat, args.threads, CLOCKS[args.clock])
    print("\nGoals:")
    print("\n".join(f"  {line}" for line in summary))


if __name__ == "__main__":
    main()
