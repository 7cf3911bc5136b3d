"""Time the NumPy reference against torch.nn.LSTM on one input.

    python benchmarks/bench_reference.py [--repeat 5]

LSTM, T=100, N=64, I=H=256, float32 input. The reference is timed in both precisions
(float64, its default truth, and the input's float32); torch.nn.LSTM is timed in the same
run when torch is installed. Prints the best of ``--repeat`` runs and the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters import ENGINES, load_adapter

STEPS, BATCH, FEATURES = 100, 64, 256


def best_time(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: allocations, lazy imports, oneDNN kernel selection
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_runner(spec: RNNSpec, params: Params, x: np.ndarray) -> Callable[[], object] | None:
    """torch.nn.LSTM with the same weights, copied by the torch adapter's mapping rows."""
    if not ENGINES["torch"].installed():
        return None
    import torch

    layer = load_adapter("torch").build(spec, params)
    inputs = torch.from_numpy(x)

    def run() -> object:
        with torch.no_grad():
            return layer(inputs)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    spec = RNNSpec("lstm", FEATURES, FEATURES)
    params = Params.random(spec, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((STEPS, BATCH, FEATURES)).astype(np.float32)
    print(f"LSTM T={STEPS} N={BATCH} I=H={FEATURES}, float32 input, best of {args.repeat}")

    ref64 = best_time(lambda: forward(spec, params, x), args.repeat)
    ref32 = best_time(lambda: forward(spec, params, x, precision="input"), args.repeat)
    print(f"  rnn_ref.forward (float64 compute)  {ref64 * 1e3:9.1f} ms")
    print(f"  rnn_ref.forward (float32 compute)  {ref32 * 1e3:9.1f} ms")
    run_torch = torch_runner(spec, params, x)
    if run_torch is None:
        print("  torch.nn.LSTM                      not installed (pip install torch==2.13.0)")
        return
    import torch

    native = best_time(run_torch, args.repeat)
    print(f"  torch.nn.LSTM {torch.__version__:<20} {native * 1e3:9.1f} ms")
    print(f"  ratio reference/torch: float64 {ref64 / native:.1f}x, float32 {ref32 / native:.1f}x")
    agreement = np.abs(run_torch()[0].numpy() - forward(spec, params, x).output).max()
    print(f"  max |torch - reference| on this input: {agreement:.2e}")


if __name__ == "__main__":
    main()
