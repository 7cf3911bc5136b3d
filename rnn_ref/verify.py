"""``rnn-ref convert --verify``: the converted file computes what the source file computes.

After OUT is written, the source layer (IN) and the converted layer (OUT, read back from
disk) run the same seeded inputs of the declared sizes: once with zero initial states and
full lengths, once with given initial states and per-sample lengths (where both sides
support them; where a side refuses lengths, given initial states and full lengths), so both
directions of a bidirectional layer start from given states and the backward one from each
sample's last valid step. Each side runs on its real framework where
installed (``torch``'s ``.pt`` in ``torch.nn.LSTM``, ...), else on the NumPy reference fed
with that file's canonical reading, so a NumPy-only run still proves that OUT's weights
mean what IN's mean.

Compared: the output at valid steps, ``h_n`` and ``c_n``. What an engine writes at padded
steps is its own convention (``rnn-ref map`` docs), not a property of the weights, so padded
steps are not compared. Each side may differ from the truth by the tolerance table's bound
(``rnn_ref.compare.TOLERANCES``), so the two may differ by twice that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters import engine_info, load_adapter
from rnn_ref.compare import TOLERANCES, Comparison, Tolerance, compare
from rnn_ref.convert import CANONICAL, named, read_params
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput, State, forward
from rnn_ref.runner import valid_steps
from rnn_ref.spec import RNNSpec

STEPS, BATCH = 7, 3
LENGTHS = (7, 1, 4)  # a full-length sample, a one-step sample and one in between
SEED = 0

Runner = Callable[[np.ndarray, State | None, np.ndarray | None], RNNOutput]


@dataclass(frozen=True)
class InputSet:
    """One seeded input configuration."""

    label: str
    x: np.ndarray
    initial_state: State | None
    lengths: np.ndarray | None


def input_sets(spec: RNNSpec, dtype: np.dtype, seed: int = SEED) -> list[InputSet]:
    """Zero states and full lengths, then given states and ragged lengths; layout as the spec says."""
    rng = np.random.default_rng(seed)
    shape = (STEPS, BATCH) if spec.layout == "TNC" else (BATCH, STEPS)
    x = rng.standard_normal((*shape, spec.input_size)).astype(dtype)
    units = spec.num_layers * spec.num_directions
    h0 = (0.5 * rng.standard_normal((units, BATCH, spec.state_size))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((units, BATCH, spec.hidden_size))).astype(dtype) if spec.has_cell_state else None
    return [InputSet("zero state, full lengths", x, None, None),
            InputSet("given state, lengths 7,1,4", x, State(h0, c0), np.array(LENGTHS))]


@dataclass
class Side:
    """How one file's layer runs: its real engine, or the reference on the file's canonical reading."""

    role: str  # "source" or "converted"
    how: str
    run: Runner
    refuses: Callable[[InputSet], str | None]  # why this side cannot run an input set, or None


def side(role: str, engine: str, params: Params, path: Path) -> Side:
    spec, dtype = params.spec, str(params.dtype)
    why = ""
    if engine != CANONICAL and (unavailable := engine_info(engine).unavailable_reason()):
        why = f" ({unavailable})"
    elif engine != CANONICAL and (reason := load_adapter(engine).unsupported_reason(spec, dtype, False)):
        why = f" ({engine} cannot run this layer in {dtype}: {reason})"
    elif engine != CANONICAL:
        adapter = load_adapter(engine)
        built: list[Any] = []  # built on first use, so that a failure is reported like a failed run

        def run(x: np.ndarray, state: State | None, lengths: np.ndarray | None) -> RNNOutput:
            built[:] = built or [adapter.build(spec, params)]
            return adapter.run(spec, built[0], x, state, lengths)

        def refuses(inputs: InputSet) -> str | None:
            with_lengths = inputs.lengths is not None
            reason = adapter.unsupported_reason(spec, dtype, with_lengths)
            defect = adapter.known_defect(spec, dtype, with_lengths)
            return reason or (f"known {engine} defect: {defect}" if defect else None)

        return Side(role, f"{engine} ({adapter.version()}) running {path.name}", run, refuses)
    return Side(role, f"the reference fed with {path.name}'s canonical reading as {engine}{why}",
                lambda x, state, lengths: forward(spec, params, x, state, lengths), lambda inputs: None)


@dataclass
class Verification:
    """Every tensor's largest difference between the source and the converted layer."""

    spec: RNNSpec
    dtype: str
    tolerance: Tolerance
    sides: list[Side]
    comparisons: list[tuple[str, Comparison]] = field(default_factory=list)  # (input set, comparison)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.comparisons) and all(c.passed for _, c in self.comparisons)

    def render(self) -> str:
        lines = [f"verify: {self.spec}, {self.dtype}, seeded inputs (seed {SEED}): T={STEPS}, N={BATCH}"]
        lines += [f"  {s.role}: {s.how}" for s in self.sides]
        lines.append(f"  {'inputs':<28}{'tensor':<10}{'largest difference':>20}  tolerance")
        allowed = f"atol={self.tolerance.atol:g}, rtol={self.tolerance.rtol:g}"
        for label, c in self.comparisons:
            value = f"{c.max_abs_error:.3e}" if c.problem is None else c.problem
            lines.append(f"  {label:<28}{c.tensor:<10}{value:>20}  {allowed}{'' if c.passed else '  FAILED'}")
        lines += [f"  note: {note}" for note in self.notes]
        if not self.comparisons:
            lines.append("verification FAILED: no input set could run on both sides")
        elif self.passed:
            worst = max(c.max_abs_error for _, c in self.comparisons)
            lines.append(f"verification passed: largest difference {worst:.3e} (tolerance {allowed}: twice the "
                         f"{self.dtype} bound of the tolerance table, as each side may differ from the truth by it)")
        else:
            failed = sorted({c.tensor for _, c in self.comparisons if not c.passed})
            lines.append(f"verification FAILED on {', '.join(failed)}: the converted layer does not compute "
                         "what the source layer computes")
        return "\n".join(lines)


def twice(tolerance: Tolerance) -> Tolerance:
    return Tolerance(2 * tolerance.atol, 2 * tolerance.rtol)


def verify_conversion(source: str, target: str, source_params: Params, in_path: str | Path,
                      out_path: str | Path, seed: int = SEED, prefix: str = "") -> Verification:
    """Run IN's layer (``source_params``, as read from IN) and OUT's layer (read back from OUT) and compare.

    ``prefix`` is the convert's ``--prefix``: OUT is read back under it where its names carry it.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    spec = source_params.spec
    converted = read_params(target, out_path, spec, prefix=prefix if named(target, out_path) else "")
    dtype = str(source_params.dtype)
    sides = [side("source", source, source_params, in_path), side("converted", target, converted, out_path)]
    result = Verification(spec, dtype, twice(TOLERANCES[dtype]), sides)
    result.notes.append("padded steps are not compared: what an engine writes there is its own convention")
    for inputs in input_sets(spec, source_params.dtype, seed):
        refusals = [f"{s.role}: {why}" for s in sides if (why := s.refuses(inputs)) is not None]
        if refusals and inputs.lengths is not None:  # keep the given states, drop the lengths
            result.notes.append(f"{inputs.label}: not run ({'; '.join(refusals)}); given state, full lengths instead")
            inputs = InputSet("given state, full lengths", inputs.x, inputs.initial_state, None)
            refusals = [f"{s.role}: {why}" for s in sides if (why := s.refuses(inputs)) is not None]
        if refusals:
            result.notes.append(f"{inputs.label}: not run ({'; '.join(refusals)})")
            continue
        try:
            expected, actual = (s.run(inputs.x, inputs.initial_state, inputs.lengths) for s in sides)
        except Exception as error:  # the engine raised: a failure of the verification, reported, never a traceback
            problem = f"running it raised {type(error).__name__}: {error}"
            result.comparisons.append((inputs.label, Comparison("run", np.inf, (), np.nan, np.nan, False, problem)))
            continue
        valid = valid_steps(spec, STEPS, BATCH, inputs.lengths)
        pairs = [("output", actual.output, expected.output, valid), ("h_n", actual.h_n, expected.h_n, None)]
        if spec.has_cell_state:
            pairs.append(("c_n", actual.c_n, expected.c_n, None))
        result.comparisons += [(inputs.label, compare(name, got, want, result.tolerance, where=where))
                               for name, got, want, where in pairs]
    return result
