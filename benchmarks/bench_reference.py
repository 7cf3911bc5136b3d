"""Time the NumPy reference against torch.nn.LSTM/GRU and its NumPy and ONNX peers, each engine alone.

    python benchmarks/bench_reference.py [--repeat 7] [--threads N] [--shapes LSTM,GRU,LSTM-bi] [--json FILE]
    python benchmarks/bench_reference.py --render FILE [--update README.md]

Three shapes, float32 input, the same seeded weights and input for every engine: an LSTM
T=100 N=64 I=H=256; a GRU (reset_after) of that size; a 2-layer bidirectional LSTM of that size
with ragged lengths. Engines: ``rnn_ref.forward`` in float32 (``precision="input"``) and in
float64 (its default truth); ``torch.nn.LSTM``/``GRU`` (lengths through ``pack_padded_sequence``),
the yardstick; when installed, onnxruntime's ``LSTM``/``GRU`` operator and ``onnx.reference``'s
(ONNX's own NumPy reference); and a plain NumPy loop with the gates fused in one matmul per
step. Then the backward: ``rnn_ref.oracle.backward`` in float32 (with its own forward pass)
against torch.autograd's forward and backward of the same layer, from the same cotangents.

**Each engine is timed alone**, in a child process of its own (``--child``), one child after
another: engines timed in turns in one process slow each other (the thread pools one leaves
spinning, OpenBLAS's and OpenMP's, steal the cores of the next; torch.nn.LSTM measured twice its
own time that way). A child builds its one engine, runs it once (warm-up), then ``--repeat``
times, and reports the best and the median, and its largest difference to the float64
reference. Every child gets the same thread count: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
and ``MKL_NUM_THREADS`` before it starts, ``torch.set_num_threads``, onnxruntime's intra-op
threads, and threadpoolctl's limit where it is installed.

The report: per shape each engine's best and median, the ratio of its best to torch's, its
difference to the reference; then the goals — reference float32 <= 1.5x torch, float64 <= 3x,
float32 ahead of the NumPy loop and of onnx.reference, backward <= 1.5x torch autograd — met or
missed. ``--json FILE`` writes it all, with the machine (CPU model, SIMD flags, cores) and the
versions; ``--render FILE --update README.md`` rewrites the README's table from such a file.

Some machines set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (older OpenBLAS builds need them);
they slow a current NumPy. To time the default kernel, unset both for this command only:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STEPS, BATCH, FEATURES = 100, 64, 256
SHAPES = {  # key: (title, mode, layers, bidirectional, ragged)
    "LSTM": ("LSTM", "lstm", 1, False, False),
    "GRU": ("GRU (reset_after)", "gru", 1, False, False),
    "LSTM-bi": ("LSTM 2-layer bidirectional, ragged lengths", "lstm", 2, True, True),
}
FORWARD = ("reference float32", "reference float64", "torch.nn", "onnxruntime", "onnx.reference",
           "numpy fused-gate loop")
BACKWARD = ("reference backward float32", "torch autograd fwd+bwd")
GOALS = {"float32": 1.5, "float64": 3.0, "backward": 1.5}  # reference time / torch time, at most
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


# --------------------------------------------------------------------------- the child: one engine
def child(shape_key: str, engine: str, repeat: int, threads: int, clock_name: str) -> dict[str, Any]:
    """Build ``engine`` alone for ``shape_key``, time it, and say how far it is from the float64 reference."""
    import bench_runners as runners
    import numpy as np

    from rnn_ref import Params, RNNSpec, backward, forward
    from rnn_ref.cases.cotangents import Cotangents

    _, mode, layers, bidirectional, ragged = SHAPES[shape_key]
    blas = limit_threads(threads)
    spec = RNNSpec(mode, FEATURES, FEATURES, num_layers=layers, bidirectional=bidirectional,
                   **({"gru_variant": "reset_after"} if mode == "gru" else {}))
    params = Params.random(spec, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, BATCH, FEATURES)).astype(np.float32)
    lengths = None
    if ragged:
        lengths = rng.integers(STEPS // 2, STEPS + 1, size=BATCH)
        lengths[0] = STEPS
    grad_output = np.random.default_rng(1).standard_normal((STEPS, BATCH, spec.num_directions * FEATURES))
    grad_output = grad_output.astype(np.float32)
    label, run = engine, None
    if engine == "reference float32":
        run = lambda: forward(spec, params, x, lengths=lengths, precision="input").output  # noqa: E731
    elif engine == "reference float64":
        run = lambda: forward(spec, params, x, lengths=lengths).output  # noqa: E731
    elif engine == "reference backward float32":
        run = lambda: backward(spec, params, x, lengths=lengths, grad_output=grad_output,  # noqa: E731
                               precision="input").x
    elif engine == "numpy fused-gate loop":
        run = runners.numpy_loop_runner(spec, params, x, lengths)
    elif engine in ("torch.nn", "torch autograd fwd+bwd"):
        try:
            import torch
        except ImportError:
            return skipped(shape_key, engine, "not installed (pip install torch==2.13.0)")
        torch.set_num_threads(threads)
        label = f"{engine} {torch.__version__}"
        if engine == "torch.nn":
            run = runners.torch_runner(spec, params, x, lengths)
        else:
            output = forward(spec, params, x, lengths=lengths)
            cotangents = Cotangents(grad_output, np.zeros(output.h_n.shape, np.float32),
                                    np.zeros(output.c_n.shape, np.float32) if output.c_n is not None else None)
            run = runners.torch_gradient_runner(spec, params, x, lengths, cotangents)
    else:  # onnxruntime, onnx.reference
        try:
            import onnx
            import onnxruntime
        except ImportError as error:
            return skipped(shape_key, engine, f"not installed ({error.name}; pip install onnx onnxruntime)")
        model = runners.onnx_model(spec, params, ragged)
        feeds = {"x": x} | ({} if lengths is None else {"lengths": lengths.astype(np.int32)})
        if engine == "onnxruntime":
            label, run = f"onnxruntime {onnxruntime.__version__}", runners.onnxruntime_runner(model, feeds, threads)
        elif ragged:  # onnx/reference/ops/op_lstm.py and op_gru.py ignore sequence_lens
            return skipped(shape_key, f"onnx.reference {onnx.__version__}",
                           "not timed: it ignores sequence_lens (wrong numbers)")
        else:
            label, run = f"onnx.reference {onnx.__version__}", runners.onnx_reference_runner(model, feeds)
    if engine in BACKWARD:
        truth = backward(spec, params, x, lengths=lengths, grad_output=grad_output).x
    else:
        truth = forward(spec, params, x, lengths=lengths).output
    clock = CLOCKS[clock_name]
    result = run()  # warm-up: allocations, lazy imports, kernel selection
    times = []
    for _ in range(repeat):
        start = clock()
        run()
        times.append(clock() - start)
    diff = float(np.abs(np.asarray(result, np.float64) - truth).max())
    return {"shape": shape_key, "engine": engine, "label": label, "best": min(times),
            "median": statistics.median(times), "times": times, "diff": diff, "skipped": None, "blas": blas}


def skipped(shape_key: str, engine: str, reason: str) -> dict[str, Any]:
    return {"shape": shape_key, "engine": engine.split()[0] if engine.startswith("onnx.") else engine,
            "label": engine, "skipped": reason}


def limit_threads(threads: int) -> str:
    """NumPy's BLAS on ``threads`` threads through threadpoolctl where installed; what is in use."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "BLAS threads from the environment only (pip install threadpoolctl to pin them)"
    threadpool_limits(limits=threads)
    pools = [p for p in threadpool_info() if "numpy" in p["filepath"]] or threadpool_info()
    return ", ".join(f"{p['internal_api']} {p.get('version')} {p.get('architecture', '')} {p['num_threads']} threads"
                     for p in pools)


# --------------------------------------------------------------------------- the parent: every engine, in turn
def run_all(shapes: list[str], repeat: int, threads: int, clock: str) -> dict[str, Any]:
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    results = []
    for shape_key in shapes:
        for engine in FORWARD + BACKWARD:
            command = [sys.executable, __file__, "--child", shape_key, engine, "--repeat", str(repeat),
                       "--threads", str(threads), "--clock", clock]
            done = run_child(command, env)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                results.append(skipped(shape_key, engine, f"failed: {tail}"))
            else:
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {shape_key}: {line_of(results[-1])}", file=sys.stderr, flush=True)
    return {"machine": machine(), "threads": threads, "repeat": repeat, "clock": clock,
            "steps": STEPS, "batch": BATCH, "features": FEATURES, "results": results}


def run_child(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """One engine's child process, run to its end."""
    return subprocess.run(command, env=env, capture_output=True, text=True)


def machine() -> dict[str, Any]:
    """CPU model, its SIMD flags, cores, OS and Python; the versions of what was timed."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = sorted(set(value.split()) & {"avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"})
                break
    except OSError:
        pass
    return {"cpu": model, "simd": flags, "cores": len(os.sched_getaffinity(0)), "os": platform.platform(),
            "python": platform.python_version(), "versions": versions()}


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("rnn_ref", "numpy", "torch", "onnxruntime", "onnx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


# --------------------------------------------------------------------------- the report
def line_of(result: dict[str, Any]) -> str:
    if result["skipped"]:
        return f"{result['label']}: {result['skipped']}"
    return f"{result['label']}: best {result['best'] * 1e3:.1f} ms, median {result['median'] * 1e3:.1f} ms"


def by_engine(report: dict[str, Any], shape_key: str) -> dict[str, dict[str, Any]]:
    return {r["engine"]: r for r in report["results"] if r["shape"] == shape_key and not r["skipped"]}


def goals(report: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(what, ratio, goal, met) for every goal whose engines were timed."""
    found = []
    for shape_key in dict.fromkeys(r["shape"] for r in report["results"]):
        timed = {engine: r["best"] for engine, r in by_engine(report, shape_key).items()}
        pairs = [("reference float32", "torch.nn", GOALS["float32"]),
                 ("reference float64", "torch.nn", GOALS["float64"]),
                 ("reference backward float32", "torch autograd fwd+bwd", GOALS["backward"]),
                 ("reference float32", "numpy fused-gate loop", None), ("reference float32", "onnx.reference", None)]
        for ours, theirs, bound in pairs:
            if ours in timed and theirs in timed:
                ratio = timed[ours] / timed[theirs]
                goal = f"<= {bound}x" if bound is not None else "< 1x"
                met = ratio <= bound if bound is not None else ratio < 1
                found.append((f"{shape_key}: {ours} / {theirs}", ratio, goal, met))
    return found


def markdown(report: dict[str, Any], command: str) -> str:
    """The README's table: per shape and engine, best and median, ratio to torch, difference; then the goals."""
    m = report["machine"]
    lines = [f"Generated by `{command}` from a run of `python benchmarks/bench_reference.py --json FILE` on "
             f"{m['cpu']} ({', '.join(m['simd']) or 'no SIMD flags read'}; {m['cores']} cores; {m['os']}; Python "
             f"{m['python']}; {', '.join(f'{k} {v}' for k, v in m['versions'].items())}): "
             f"{report['threads']} thread(s) per engine, each engine alone in its own process, best and median of "
             f"{report['repeat']} runs after a warm-up ({report['clock']} clock); T={report['steps']} "
             f"N={report['batch']} I=H={report['features']}, float32 input.", "",
             "| shape | engine | best | median | / torch | max diff to float64 reference |",
             "|---|---|---|---|---|---|"]
    for shape_key in dict.fromkeys(r["shape"] for r in report["results"]):
        timed = by_engine(report, shape_key)
        for r in (r for r in report["results"] if r["shape"] == shape_key):
            if r["skipped"]:
                lines.append(f"| {shape_key} | {r['label']} | {r['skipped']} | | | |")
                continue
            yardstick = timed.get("torch autograd fwd+bwd" if r["engine"] in BACKWARD else "torch.nn")
            ratio = f"{r['best'] / yardstick['best']:.2f}x" if yardstick else "-"
            lines.append(f"| {shape_key} | {r['label']} | {r['best'] * 1e3:.1f} ms | {r['median'] * 1e3:.1f} ms | "
                         f"{ratio} | {r['diff']:.1e} |")
    lines += ["", "| goal | ratio | bound | |", "|---|---|---|---|"]
    lines += [f"| {what} | {ratio:.2f}x | {goal} | {'met' if met else '**missed**'} |"
              for what, ratio, goal, met in goals(report)]
    return "\n".join(lines)


def update(readme: Path, table: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: has no {START} ... {END} section to rewrite")
    head, rest = text.split(START, 1)
    readme.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per engine after a warm-up")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for every engine (default: the CPUs this process may use)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated subset of: {', '.join(SHAPES)}")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: the child's CPU time, steadier on a loaded machine, "
                             "meaningful with --threads 1 only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the run's results to FILE")
    parser.add_argument("--render", type=Path, metavar="FILE", help="print the table of a --json FILE (no timing)")
    parser.add_argument("--update", type=Path, metavar="README", help="with --render: rewrite README's table")
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.repeat, args.threads, args.clock)))
        return
    if args.render:
        report = json.loads(args.render.read_text(encoding="utf-8"))
        table = markdown(report, f"python benchmarks/bench_reference.py --render {args.render} --update README.md")
        if args.update:
            update(args.update, table)
        print(table)
        return
    shapes = [s.strip() for s in args.shapes.split(",")]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"--shapes: {', '.join(unknown)} not among {', '.join(SHAPES)}")
    print(f"{args.threads} thread(s) per engine; each engine alone in its own process, best and median of "
          f"{args.repeat} after a warm-up; {args.clock} clock; float32 input", file=sys.stderr)
    report = run_all(shapes, args.repeat, args.threads, args.clock)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(markdown(report, "python benchmarks/bench_reference.py"))


if __name__ == "__main__":
    main()
