"""The catalog x engine table of ``rnn-ref diagnose`` (and the time of a large diagnosis).

    python benchmarks/diagnose_table.py [--engines torch,keras,...] [--suffix .npz] [--no-outputs] [--time]

For each engine's rows (weights written and read as the engine's ``--suffix`` file: ``.npz``
needs NumPy alone; a framework's own suffix needs that framework) and for the outputs form,
every seed of ``rnn_ref.diagnosis.seeding`` (every catalog mistake, every gate order, selftest's
row slips, every 7th pair) is diagnosed, for a 2-layer bidirectional LSTM (I=8, H=4) and a
bidirectional GRU (I=H=4). The table counts, per mistake kind (pairs under ``pair``): found
exactly (f), ambiguous — named by another set that reproduces the seed bit for bit (a),
invisible — the seed changes nothing, and diagnose says "no difference" (i), missed (m).

``--time`` then times diagnoses of a 2-layer bidirectional LSTM with I=H=256 (float32): in the
weights form (to keras's rows) and in the outputs form (T=20, N=4; output and h_n, then output
alone, where no pair can be ruled out on the first unit's final states), each of a gate swap
(f and g) and of unrelated weights (nothing explains them, so every pair is tried).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np

from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import adapter_object
from rnn_ref.conversion.convert import engine_mapping
from rnn_ref.diagnosis import Observed, diagnose_outputs, diagnose_weights
from rnn_ref.diagnosis.catalog import Run
from rnn_ref.diagnosis.gates import reorder
from rnn_ref.diagnosis.outputs import run_with
from rnn_ref.diagnosis.seeding import diagnosed_files, diagnosed_outputs
from rnn_ref.diagnosis.weights import apply

SPECS = (RNNSpec("lstm", 8, 4, num_layers=2, bidirectional=True), RNNSpec("gru", 4, 4, bidirectional=True))
VERDICTS = ("found", "ambiguous", "invisible", "missed")


def row_of(name: str) -> str:
    return "pair" if "+" in name else name


def table(engines: list[str], suffix: str, outputs: bool = True) -> str:
    counts: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as folder:
        for engine in engines:
            for spec in SPECS:
                if adapter_object(engine).layer_unsupported_reason(spec) is None:
                    for name, verdict in diagnosed_files(engine, spec, Path(folder), suffix):
                        counts[row_of(name), engine][verdict] += 1
    for spec in SPECS if outputs else ():
        for name, verdict in diagnosed_outputs(spec):
            counts[row_of(name), "outputs"][verdict] += 1
    columns = [*engines, "outputs"] if outputs else engines
    lines = ["| mistake | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in sorted({row for row, _ in counts}):
        cells = [" ".join(f"{v[0]}{counts[row, c][v]}" for v in VERDICTS if counts[row, c][v]) or "-"
                 for c in columns]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing() -> None:
    spec = RNNSpec("lstm", 256, 256, num_layers=2, bidirectional=True)
    source = Params.random(spec, seed=1, dtype=np.float32)
    mapping = engine_mapping("keras", spec)
    swapped = apply(mapping, Params(spec, reorder(spec, dict(source), ("i", "g", "f", "o"))), [])
    unrelated = apply(mapping, Params.random(spec, seed=2, dtype=np.float32), [])
    for name, target in (("gate swap", swapped), ("unrelated weights", unrelated)):
        start = time.perf_counter()
        diagnosis = diagnose_weights(source, mapping, target)
        print(f"weights form, {name}: {diagnosis.verdict} in {time.perf_counter() - start:.2f} s")
    x = np.random.default_rng(0).standard_normal((20, 4, 256)).astype(np.float32)
    run = Run(spec, x, None, None)
    for name, weights in (("gate swap", Params(spec, reorder(spec, dict(source), ("i", "g", "f", "o")))),
                          ("unrelated weights", Params.random(spec, seed=2, dtype=np.float32))):
        result = run_with(weights, run, [])
        given = {"output and h_n": result.h_n.astype(np.float32), "output alone": None}
        for tensors, h_n in given.items():
            start = time.perf_counter()
            diagnosis = diagnose_outputs(source, run, Observed(result.output.astype(np.float32), h_n))
            print(f"outputs form (T=20, N=4, {tensors}), {name}: {diagnosis.verdict} "
                  f"in {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="torch,gluon,keras,onnx,flax")
    parser.add_argument("--suffix", default=".npz")
    parser.add_argument("--no-outputs", action="store_true", help="the weights form only")
    parser.add_argument("--time", action="store_true")
    args = parser.parse_args()
    print(table(args.engines.split(","), args.suffix, not args.no_outputs))
    if args.time:
        timing()


if __name__ == "__main__":
    main()
