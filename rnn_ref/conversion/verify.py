"""``rnn-ref convert --verify``: the converted file computes what the source file computes.

After OUT is written, the source layer (IN) and the converted layer (OUT, read back from
disk) run the same seeded inputs of the declared sizes: once with zero initial states and
full lengths, once with given initial states and per-sample lengths (where both sides
support them; where a side refuses lengths, given initial states and full lengths), so both
directions of a bidirectional layer start from given states and the backward one from each
sample's last valid step. Where neither file fixes T, a third set runs zero states at
T=``LONG_STEPS``, far above the sizes an ``.onnx`` file's glue is proved at, so a file whose
computation changes with the sequence's length fails by running too. Each side runs on its real framework where
installed (``torch``'s ``.pt`` in ``torch.nn.LSTM``, ...), else on the NumPy reference fed
with that file's canonical reading, so a NumPy-only run still proves that OUT's weights
mean what IN's mean.

A file whose format declares it a program (``FileFormat.program``: an ``.onnx`` file) is
not only weights: its side runs the file itself (its own graph, input and outputs, read and
checked again by its family, ``rnn_ref/adapters/onnx/formats.py``) on its engine's runtime,
or on the format's other engines' (``onnx.reference`` where onnxruntime cannot run the layer). Such a file
takes X alone, so it runs the zero-state inputs only (at the sizes its graph input fixes,
if it fixes them). Where neither runtime is here, the header says that the weights the file
holds were verified, not the file.

Design 2f: each side runs every input set twice, on fresh copies, and the two runs must agree
(an engine that keeps state between calls fails the verification, saying so); every run is
bounded in time (``rnn_ref.core.deadline``, ``RNN_REF_CASE_TIMEOUT``).

A side that did not run (it raised, e.g. a runtime refusing the file, or did not return in
time) fails the verification saying so and why, not as a layer that computes something else.

Compared: the output at valid steps, ``h_n`` and ``c_n``. What an engine writes at padded
steps is its own convention (``rnn-ref map`` docs), not a property of the weights, so padded
steps are not compared. Each side may differ from the truth by the tolerance table's bound
(``rnn_ref.core.compare.TOLERANCES``), so the two may differ by twice that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from rnn_ref.adapters import engine_info, load_adapter
from rnn_ref.adapters.file_format import FileFormat, FileProgram, Runner
from rnn_ref.conversion.convert import CANONICAL, named, read_params
from rnn_ref.conversion.formats import format_of
from rnn_ref.core.compare import TOLERANCES, Comparison, Tolerance, compare
from rnn_ref.core.deadline import DeadlineExceeded, case_seconds, within
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.judge.runner import handed, handed_state, valid_steps
from rnn_ref.oracle.forward import forward

STEPS, BATCH = 7, 3
#: A third input set's length, well above the sizes an .onnx file's glue is proved at (onnx_glue.PROBE_SIZES), so
#: a file whose computation changes with the sequence's length is also caught by running it.
LONG_STEPS = 40
LENGTHS = (7, 1, 4)  # a full-length sample, a one-step sample and one in between
SEED = 0


@dataclass(frozen=True)
class InputSet:
    """One seeded input configuration."""

    label: str
    x: np.ndarray
    initial_state: State | None
    lengths: np.ndarray | None


def ragged_lengths(steps: int, batch: int) -> tuple[int, ...]:
    """Full length, one step, half way, repeated: (7, 1, 4) for T=7, N=3."""
    return tuple((steps, 1, (steps + 1) // 2)[n % 3] for n in range(batch))


def version_of(engine: str, adapter: Any) -> str:
    """``adapter.version()``, bounded like a run; one that raises or does not return is a ParamsError
    (the CLI's "was written, but cannot be verified")."""
    try:
        return within(case_seconds(), f"{engine}'s version()", adapter.version)
    except Exception as error:  # engine code: whatever it raises, DeadlineExceeded and CalledCodeExited too
        raise ParamsError(f"{engine}'s version() failed: {type(error).__name__}: {error}") from None


def input_sets(spec: RNNSpec, dtype: np.dtype, seed: int = SEED, steps: int = STEPS,
               batch: int = BATCH, long_steps: int = 0) -> list[InputSet]:
    """Zero states and full lengths, then given states and ragged lengths, then (``long_steps``) zero states and a
    longer sequence; layout as the spec says."""
    rng = np.random.default_rng(seed)
    shape = (steps, batch) if spec.layout == "TNC" else (batch, steps)
    x = rng.standard_normal((*shape, spec.input_size)).astype(dtype)
    units = spec.num_layers * spec.num_directions
    h0 = (0.5 * rng.standard_normal((units, batch, spec.state_size))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((units, batch, spec.hidden_size))).astype(dtype) if spec.has_cell_state else None
    lengths = ragged_lengths(steps, batch)
    sets = [InputSet("zero state, full lengths", x, None, None),
            InputSet(f"given state, lengths {','.join(map(str, lengths))}", x, State(h0, c0), np.array(lengths))]
    if long_steps:
        shape = (long_steps, batch) if spec.layout == "TNC" else (batch, long_steps)
        long_x = rng.standard_normal((*shape, spec.input_size)).astype(dtype)
        sets.append(InputSet(f"zero state, T={long_steps}", long_x, None, None))
    return sets


@dataclass
class Side:
    """How one file's layer runs: its engine, the file itself (.onnx), or the reference on its canonical reading."""

    role: str  # "source" or "converted"
    how: str
    run: Runner
    refuses: Callable[[InputSet], str | None]  # why this side cannot run an input set, or None
    sizes: tuple[int | None, int | None] = (None, None)  # (T, N) the side can only run, where fixed
    dead: str | None = None  # set when a run did not return in time: the side is not called again


def reference_side(role: str, params: Params, how: str) -> Side:
    """The NumPy reference on ``params`` (a file's canonical reading); ``how`` says so in the header."""
    spec = params.spec
    return Side(role, how, lambda x, state, lengths: forward(spec, params, x, state, lengths), lambda inputs: None)


def side(role: str, engine: str, params: Params, path: Path) -> Side:
    spec, dtype = params.spec, str(params.dtype)
    fmt = format_of(engine, path)
    if fmt is not None and fmt.program is not None and engine in fmt.engines:
        return program_side(role, engine, params, path, fmt, fmt.program)
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

        return Side(role, f"{engine} ({version_of(engine, adapter)}) running {path.name}", run, refuses)
    return reference_side(role, params,
                          f"the reference fed with {path.name}'s canonical reading as {engine}{why}")


def program_side(role: str, engine: str, params: Params, path: Path, fmt: FileFormat, program_hook: str) -> Side:
    """The file itself (a program, ``fmt.program``) on ``engine``'s runtime, else on another
    engine of its format, else the reference fed with the weights it holds."""
    spec, dtype = params.spec, str(params.dtype)
    program: FileProgram = fmt.call(program_hook, path, spec)  # the file as it is now, checked again before it runs
    reasons = []
    for candidate in (engine, *(e for e in fmt.engines if e != engine)):
        if unavailable := engine_info(candidate).unavailable_reason():
            reasons.append(f"{candidate}: {unavailable}")
            continue
        adapter = load_adapter(candidate)
        if reason := adapter.unsupported_reason(spec, dtype, False) or program.cannot_run(candidate):
            reasons.append(f"{candidate} cannot run this layer in {dtype}: {reason}")
            continue
        run = program.runner(spec, adapter)

        def refuses(inputs: InputSet) -> str | None:
            if inputs.initial_state is not None or inputs.lengths is not None:
                return program.takes_input_only
            return None

        also = f"; {'; '.join(reasons)}" if reasons else ""
        how = (f"{candidate} ({version_of(candidate, adapter)}) running {path.name} itself "
               f"({program.detail()}{also})")
        return Side(role, how, run, refuses, (program.steps, program.batch))
    return reference_side(role, params, f"the reference fed with the weights {path.name} holds, read as "
                          f"{engine} -- not {path.name} itself, which nothing here can run ({'; '.join(reasons)})")


@dataclass
class Verification:
    """Every tensor's largest difference between the source and the converted layer."""

    spec: RNNSpec
    dtype: str
    tolerance: Tolerance
    sides: list[Side]
    comparisons: list[tuple[str, Comparison]] = field(default_factory=list)  # (input set, comparison)
    notes: list[str] = field(default_factory=list)
    repeats: list[tuple[str, str, Comparison]] = field(default_factory=list)  # (role, input set, 2nd vs 1st run)
    steps: int = STEPS
    batch: int = BATCH

    @property
    def unrepeatable(self) -> list[str]:
        """The roles whose second run on an input differed from their first."""
        return sorted({role for role, _, c in self.repeats if not c.passed})

    @property
    def passed(self) -> bool:
        return bool(self.comparisons) and all(c.passed for _, c in self.comparisons) and not self.unrepeatable

    def render(self) -> str:
        lines = [f"verify: {self.spec}, {self.dtype}, seeded inputs (seed {SEED}): T={self.steps}, N={self.batch}"]
        lines += [f"  {s.role}: {s.how}" for s in self.sides]
        lines.append(f"  {'inputs':<28}{'tensor':<10}{'largest difference':>20}  tolerance")
        allowed = f"atol={self.tolerance.atol:g}, rtol={self.tolerance.rtol:g}"
        for label, c in self.comparisons:
            value = f"{c.max_abs_error:.3e}" if c.problem is None else c.problem
            lines.append(f"  {label:<28}{c.tensor:<10}{value:>20}  {allowed}{'' if c.passed else '  FAILED'}")
        for role, label, c in self.repeats:
            if not c.passed:
                value = f"{c.max_abs_error:.3e}" if c.problem is None else c.problem
                lines.append(f"  {role} run twice on {label!r}: {c.tensor} differs between the runs by {value}  FAILED")
        if self.repeats and not self.unrepeatable:
            worst = max(c.max_abs_error for _, _, c in self.repeats)
            lines.append(f"  run twice: each side ran each input set twice, and the runs agreed (largest difference "
                         f"{worst:.3e})")
        lines += [f"  note: {note}" for note in self.notes]
        if not self.comparisons:
            lines.append("verification FAILED: no input set could run on both sides")
        elif self.unrepeatable:
            lines.append(f"verification FAILED: the {' and the '.join(self.unrepeatable)} layer gave a different "
                         "result when run twice on the same input (it keeps state between calls), so no run of it "
                         "can be trusted")
        elif self.passed:
            worst = max(c.max_abs_error for _, c in self.comparisons)
            lines.append(f"verification passed: largest difference {worst:.3e} (tolerance {allowed}: twice the "
                         f"{self.dtype} bound of the tolerance table, as each side may differ from the truth by it)")
        elif not_run := [(label, c.problem) for label, c in self.comparisons if c.tensor == "run"]:
            label, why = not_run[0]
            lines.append(f"verification FAILED: on {label!r} {why}" + (f" (and on {len(not_run) - 1} more input "
                                                                        f"set{'s' * (len(not_run) > 2)})"
                                                                        if len(not_run) > 1 else ""))
        else:
            failed = sorted({c.tensor for _, c in self.comparisons if not c.passed})
            lines.append(f"verification FAILED on {', '.join(failed)}: the converted layer does not compute "
                         "what the source layer computes")
        return "\n".join(lines)


def twice(tolerance: Tolerance) -> Tolerance:
    return Tolerance(2 * tolerance.atol, 2 * tolerance.rtol)


class RunFailed(Exception):
    """A side's run raised, returned something else than an RNNOutput, or did not return in time."""

    def __init__(self, role: str, why: str) -> None:
        super().__init__(f"the {role} layer did not run: {why}")


def run_once(s: Side, inputs: InputSet) -> RNNOutput:
    """One run of ``s`` on fresh copies of the inputs (bounded in time), its arrays copied out."""
    fresh = (handed(inputs.x), handed_state(inputs.initial_state), handed(inputs.lengths))
    try:
        result = within(case_seconds(), f"the {s.role} layer's run on {inputs.label!r}", s.run, *fresh)
    except DeadlineExceeded as error:
        s.dead = str(error)
        raise RunFailed(s.role, f"its run did not return: {error}") from None
    except Exception as error:  # the engine raised: a failure of the verification, reported, never a traceback
        raise RunFailed(s.role, f"running it raised {type(error).__name__}: {error}") from None
    if not isinstance(result, RNNOutput):
        raise RunFailed(s.role, f"its run returned {type(result).__name__}, not an RNNOutput")
    return RNNOutput(_copy(result.output), _copy(result.h_n), _copy(result.c_n))


@overload
def _copy(array: np.ndarray) -> np.ndarray: ...
@overload
def _copy(array: None) -> None: ...
def _copy(array: np.ndarray | None) -> np.ndarray | None:
    """A copy the engine cannot change later; None stays None (an engine's run may give None for any output)."""
    return None if array is None else np.array(array, copy=True)


def tensors(spec: RNNSpec, result: RNNOutput) -> list[tuple[str, np.ndarray | None]]:
    return [("output", result.output), ("h_n", result.h_n)] + ([("c_n", result.c_n)] if spec.has_cell_state else [])


def run_twice(result: Verification, s: Side, inputs: InputSet) -> RNNOutput:
    """The first of two runs of ``s`` on ``inputs``; the second must agree with it (design 2f)."""
    first = run_once(s, inputs)
    second = run_once(s, inputs)
    tolerance = TOLERANCES[result.dtype]
    for (name, again), (_, before) in zip(tensors(result.spec, second), tensors(result.spec, first), strict=True):
        if again is None or before is None:
            continue
        comparison = compare(name, again, before, tolerance)
        result.repeats.append((s.role, inputs.label, comparison))
    return first


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
    fixed = [s.sizes for s in sides if s.sizes != (None, None)]
    steps = next((t for t, _ in fixed if t is not None), STEPS)
    batch = next((n for _, n in fixed if n is not None), BATCH)
    result = Verification(spec, dtype, twice(TOLERANCES[dtype]), sides, steps=steps, batch=batch)
    for s in sides:
        if s.sizes != (None, None):
            result.notes.append(f"the {s.role} file's graph input fixes T={s.sizes[0]}, N={s.sizes[1]}: the inputs "
                                "have those sizes")
            if s.sizes[0] not in (None, steps) or s.sizes[1] not in (None, batch):
                s.dead = "its graph input fixes other sizes than the other file's"
    result.notes.append("padded steps are not compared: what an engine writes there is its own convention")

    def refusals(inputs: InputSet) -> list[str]:
        return [f"{s.role}: {why}" for s in sides if (why := s.dead or s.refuses(inputs)) is not None]

    long_steps = LONG_STEPS if not any(t for t, _ in fixed) else 0
    if long_steps:
        result.notes.append(f"a third input set runs T={long_steps}, so a computation that changes with the "
                            "sequence's length is seen")
    for inputs in input_sets(spec, source_params.dtype, seed, steps, batch, long_steps):
        refused = refusals(inputs)
        if refused and inputs.lengths is not None:  # keep the given states, drop the lengths
            result.notes.append(f"{inputs.label}: not run ({'; '.join(refused)}); given state, full lengths instead")
            inputs = InputSet("given state, full lengths", inputs.x, inputs.initial_state, None)
            refused = refusals(inputs)
        if refused:
            result.notes.append(f"{inputs.label}: not run ({'; '.join(refused)})")
            continue
        try:
            expected, actual = (run_twice(result, s, inputs) for s in sides)
        except RunFailed as error:
            result.comparisons.append((inputs.label, Comparison("run", np.inf, (), np.nan, np.nan, False, str(error))))
            continue
        valid = valid_steps(spec, inputs.x.shape[0 if spec.layout == "TNC" else 1], batch, inputs.lengths)
        for (name, got), (_, want) in zip(tensors(spec, actual), tensors(spec, expected), strict=True):
            if got is None or want is None:
                missing = " and ".join(s.role for s, a in zip(sides, (want, got), strict=True) if a is None)
                result.notes.append(f"{inputs.label}: {name} not compared (the {missing} file has no such output)")
                continue
            result.comparisons.append((inputs.label, compare(name, got, want, result.tolerance,
                                                             where=valid if name == "output" else None)))
    return result
