"""Golden fixtures: what a real engine computed, recorded so NumPy alone can check it later.

``record`` runs a representative subset of the case matrix on a real engine and writes, per
case, ``fixtures/<engine>/<case id>.npz`` holding the engine's native weights (``weight:<native
name>``), the inputs (``x``, ``h0``, ``c0``, ``lengths``) and the engine's results (``output``,
``h_n``, ``c_n``), plus ``fixtures/<engine>/manifest.json`` (engine and version, spec, case id,
tolerance, how it was recorded, and the cases not recorded with the reason).

``replay`` imports the recorded native weights through the engine's mapping rows (no
framework needed), recomputes with the reference and judges the recorded results exactly
like a live run. Fixtures are read with ``allow_pickle=False``; a corrupted, truncated or
mis-shaped one fails with a message that names the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import platform
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref import __version__
from rnn_ref.adapters import adapter_object, engine_names, load_adapter
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import DTYPES, VARIANTS, Case, small_matrix
from rnn_ref.core.compare import TOLERANCES, Tolerance
from rnn_ref.core.files import read_npz
from rnn_ref.core.paths import FIXTURES_ROOT as FIXTURES_ROOT
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.golden.drift import DRIFT_BOUND_ULPS, GRADIENT_DRIFT_BOUND_ULPS, Drift, drift
from rnn_ref.golden.gradient_replay import (
    GRAD_PREFIX,
    gradient_arrays,
    gradient_declaration_problem,
    gradient_entry,
    gradient_entry_problem,
    short,
)
from rnn_ref.judge.runner import (
    FAILING,
    KNOWN_DEFECT,
    PASS,
    UNSUPPORTED,
    CaseResult,
    CaseRun,
    execute_case,
    execute_gradient_case,
    judge,
    verdict,
)
from rnn_ref.oracle.forward import forward

MANIFEST = "manifest.json"
WEIGHT_PREFIX = "weight:"

#: The recorded subset: every variant in these layer/input configurations, chosen so each
#: engine feature (depth, both directions, both layouts, given states, lengths, no bias, both
#: dtypes) is recorded at least twice.
REPRESENTATIVE = [
    # (layers, bidirectional, layout, with_state, with_lengths, bias, dtype)
    (1, False, "TNC", False, False, True, "float32"),
    (2, True, "NTC", True, True, True, "float32"),
    (3, False, "NTC", True, False, True, "float64"),
    (2, True, "TNC", False, True, False, "float64"),
    (1, True, "NTC", True, False, False, "float32"),
    (2, False, "TNC", False, True, True, "float32"),
    (2, True, "NTC", True, False, True, "float64"),
    (3, True, "TNC", False, False, True, "float32"),
]


class FixtureError(ValueError):
    """A fixture file or manifest is unreadable, incomplete or inconsistent."""


def representative_cases() -> list[Case]:
    wanted = set(REPRESENTATIVE)
    return [
        c for c in small_matrix()
        if (c.spec.num_layers, c.spec.bidirectional, c.spec.layout, c.with_state, c.with_lengths, c.spec.bias,
            c.dtype) in wanted
    ]


def case_entry(case: Case) -> dict:
    return {"variant": case.variant, "spec": case.spec.to_dict(), "steps": case.steps, "batch": case.batch,
            "with_state": case.with_state, "with_lengths": case.with_lengths, "dtype": case.dtype,
            "short_lengths": case.short_lengths}


def case_from_entry(entry: dict) -> Case:
    """The Case a manifest entry describes; a field of the wrong type or value raises ValueError naming it."""
    if entry.get("variant") not in VARIANTS:
        raise ValueError(f"variant {entry.get('variant')!r} is not one of {', '.join(VARIANTS)}")
    if entry.get("dtype") not in DTYPES.values():
        raise ValueError(f"dtype {entry.get('dtype')!r} is not one of {', '.join(DTYPES.values())}")
    for field in ("steps", "batch"):
        value = entry.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CASE_SIZE:
            raise ValueError(f"{field} {value!r} is not an integer in 1..{MAX_CASE_SIZE}")
    for field in ("with_state", "with_lengths", "short_lengths"):
        if not isinstance(entry.get(field, False), bool):
            raise ValueError(f"{field} {entry.get(field)!r} is not true or false")
    if not isinstance(entry.get("spec"), dict):
        raise ValueError(f"spec {entry.get('spec')!r} is not an object of RNNSpec fields")
    return Case(entry["variant"], RNNSpec.from_dict(entry["spec"]), entry["steps"], entry["batch"],
                entry["with_state"], entry["with_lengths"], entry["dtype"],
                short_lengths=entry.get("short_lengths", False))


#: No recorded case has more steps or samples than this (the matrix's largest has 200 steps).
MAX_CASE_SIZE = 10_000


# --------------------------------------------------------------------------- record
def record(engine: str, out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run the representative cases on the real ``engine``; write the fixtures and the manifest.

    All or nothing: ``out_dir`` is checked before any case runs (it must be a folder or
    absent; an existing manifest must be valid, be ``engine``'s, and list only plain file names
    inside the folder), the new set is written to a scratch folder beside it, and only a
    complete recording replaces the files the old manifest listed. Files the old manifest does
    not list are never touched. A SIGTERM while the cases run stops the recording and removes
    the scratch folder; during the swap it waits (``SigtermGuard``). A scratch folder that
    a killed recording left (SIGKILL) is removed by the next one (``remove_stale_scratch``).
    """
    adapter = load_adapter(engine)
    cases = representative_cases()
    old_files = prepare_output(out_dir, [f"{case.id}.npz" for case in cases], engine)
    remove_stale_scratch(out_dir)
    try:
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f"{scratch_prefix(out_dir)}{os.getpid()}."))
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot write there ({error.strerror or error})") from None
    try:
        with SigtermGuard() as guard:
            try:
                manifest = record_into(adapter, engine, cases, staging, progress)
                guard.hold()
            except Terminated:
                raise FixtureError("stopped by SIGTERM: nothing was recorded; the previous recording is "
                                   "unchanged") from None
            replace_recording(staging, out_dir, old_files)
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def record_into(adapter: Adapter, engine: str, cases: list[Case], staging: Path,
                progress: Callable[[int, int, str], None] | None) -> dict:
    """Run ``cases`` and write their fixture files and the manifest (last) into ``staging``."""
    recorded, not_recorded = [], []
    for index, case in enumerate(cases, 1):
        if progress:
            progress(index, len(cases), case.id)
        # gradients first: an engine that computes the forward on the way gives it to execute_case
        try:
            gradients = execute_gradient_case(adapter, case)  # gradients: rnn_ref/golden/gradient_replay.py
            run = execute_case(adapter, case)
        except Exception as error:  # the engine raised, did not return in time, or returned junk
            raise FixtureError(f"refusing to record: {engine} on case {case.id}: {type(error).__name__}: "
                               f"{error}") from None
        result = run.result
        if result.status in FAILING:
            raise FixtureError(f"refusing to record:\n{result.report()}")
        if result.status != PASS:
            not_recorded.append({"id": case.id, **case_entry(case), "status": result.status,
                                 "reason": result.reason})
            continue
        if gradients.result.status in FAILING:
            raise FixtureError(f"refusing to record:\n{gradients.result.report()}")
        # the output judged may be the gradient run's (CaseRun.layer None): then so is the layer
        layer = gradients.layer if run.layer is None else run.layer
        np.savez_compressed(staging / f"{case.id}.npz", **recorded_arrays(adapter, run, layer),
                            **gradient_arrays(gradients))
        tolerance = TOLERANCES[case.dtype]
        recorded.append({"id": case.id, "file": f"{case.id}.npz", **case_entry(case),
                         "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol},
                         "padded_steps": adapter.padded_steps(case.spec),
                         "gradients": gradient_entry(gradients)})
    manifest = {
        "engine": engine,
        "engine_version": adapter.version(),
        "recorded_with": f"rnn-ref record --engine {engine} (rnn_ref {__version__})",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cases": recorded,
        "not_recorded": not_recorded,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


class Terminated(BaseException):
    """A SIGTERM came while the cases ran (a BaseException: an engine's ``except Exception`` lets it through)."""


class SigtermGuard:
    """SIGTERM during ``record``: raises ``Terminated`` while the cases run, so that the scratch
    folder is removed on the way out. From ``hold()`` on (the swap of old and new files, which
    must not stop half done) SIGTERM and SIGINT wait; on leaving the guard its handlers of
    before are put back and a signal that came is raised again. Python handles signals in the
    main thread only: elsewhere the guard does nothing.
    """

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: dict[int, Any] = {}
        self.waiting_signals: list[int] | None = None  # None: not waiting; else the signals that came

    def __enter__(self) -> SigtermGuard:
        if self.active:
            self.previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self.handle)
        return self

    def handle(self, signum: int, frame: object) -> None:
        if self.waiting_signals is not None:
            self.waiting_signals.append(signum)
            return
        raise Terminated

    def hold(self) -> None:
        """From now on SIGTERM and SIGINT wait until the guard is left."""
        self.waiting_signals = []
        if self.active:
            self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self.handle)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        for number in dict.fromkeys(self.waiting_signals or []):
            signal.raise_signal(number)


def scratch_prefix(out_dir: Path) -> str:
    """Scratch folders of a recording into ``out_dir`` are ``.<name>.recording.<pid>.<random>`` beside it."""
    return f".{out_dir.name}.recording."


def remove_stale_scratch(out_dir: Path) -> list[Path]:
    """Remove the scratch folders that recordings into ``out_dir`` left when killed; return them.

    Only folders named by ``scratch_prefix`` whose process is gone, that hold plain files only,
    are removed: another recording that is still running keeps its own.
    """
    pattern = re.compile(re.escape(scratch_prefix(out_dir)) + r"(\d+)\.[A-Za-z0-9_]+")
    removed = []
    try:
        candidates = list(out_dir.parent.iterdir())
    except OSError:
        return removed
    for folder in candidates:
        match = pattern.fullmatch(folder.name)
        if not match or folder.is_symlink() or not folder.is_dir() or process_alive(int(match[1])):
            continue
        try:
            if all(entry.is_file() and not entry.is_symlink() for entry in folder.iterdir()):
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:
            continue  # not ours to fight over: the new recording uses a folder of its own
    return removed


def process_alive(pid: int) -> bool:
    """True when process ``pid`` runs (or may: one of another user, or a system without kill(pid, 0))."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


def prepare_output(out_dir: Path, new_files: list[str], engine: str) -> list[str]:
    """Check ``out_dir`` before recording ``engine``; return the files of its current recording (manifest last).

    Refused: an ``out_dir`` that is not a folder, an old manifest that is unreadable, is another
    engine's, or names a file outside the folder or a non-file, and a new file name that would
    overwrite a file the old manifest does not list.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise FixtureError(f"{out_dir}: is not a folder; --output names the folder to record into")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot create it ({error.strerror or error})") from None
    old: list[str] = []
    try:
        if (out_dir / MANIFEST).exists():
            manifest = read_manifest(out_dir)
            if manifest["engine"] != engine:
                raise FixtureError(f"{out_dir / MANIFEST} holds fixtures of {manifest['engine']!r}, not {engine!r}: "
                                   "nothing was recorded or deleted; record into another folder")
            old = [entry["file"] for entry in manifest["cases"]]
            not_files = [name for name in old if (out_dir / name).exists() and not (out_dir / name).is_file()]
            if not_files:
                raise FixtureError(f"{out_dir / MANIFEST} lists {', '.join(not_files)}, which are not files: "
                                   "nothing was recorded or deleted; fix or remove the manifest")
            old.append(MANIFEST)
        foreign = [name for name in new_files if name not in old and (out_dir / name).exists()]
    except OSError as error:  # a name the file system refuses (too long, ...)
        raise FixtureError(f"{out_dir}: cannot look up {short(Path(error.filename or '?').name)} "
                           f"({error.strerror or error}): nothing was recorded or deleted") from None
    if foreign:
        raise FixtureError(f"{out_dir}: recording would overwrite {', '.join(foreign)}, which its manifest does not "
                           "list; move them away first")
    return old


def replace_recording(staging: Path, out_dir: Path, old_files: list[str]) -> None:
    """Swap the finished recording in ``staging`` for the files of the old one, all or nothing.

    The old files move to a backup folder, the new ones move in; if any step fails, the new
    ones are taken out again and the old ones put back.
    """
    out_dir.mkdir(exist_ok=True)
    backup = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
    moved_out: list[str] = []
    moved_in: list[str] = []
    new_files = [*sorted(p.name for p in staging.iterdir() if p.name != MANIFEST), MANIFEST]  # manifest last
    try:
        for name in old_files:
            if (out_dir / name).exists():
                os.replace(out_dir / name, backup / name)
                moved_out.append(name)
        for name in new_files:
            os.replace(staging / name, out_dir / name)
            moved_in.append(name)
    except OSError as error:
        for name in reversed(moved_in):
            os.replace(out_dir / name, staging / name)
        for name in reversed(moved_out):
            os.replace(backup / name, out_dir / name)
        shutil.rmtree(backup, ignore_errors=True)
        raise FixtureError(f"{out_dir}: could not move the new recording in ({error.strerror or error}); "
                           "the previous recording is unchanged") from None
    shutil.rmtree(backup, ignore_errors=True)


def recorded_arrays(adapter: Adapter, run: CaseRun, layer: Any) -> dict[str, np.ndarray]:
    """What one fixture file holds: the native weights of ``layer`` (the one that computed the
    output), inputs and the engine's results as judged."""
    data, output, spec = run.data, run.output, run.result.case.spec
    native = adapter.native_arrays(spec, layer)
    arrays = {f"{WEIGHT_PREFIX}{name}": value for name, value in native.items()}
    arrays |= {"x": data.x, "output": output.output, "h_n": output.h_n}
    optional = {"c_n": output.c_n, "lengths": data.lengths}
    if data.initial_state is not None:
        optional |= {"h0": data.initial_state.h, "c0": data.initial_state.c}
    return arrays | {name: value for name, value in optional.items() if value is not None}


# --------------------------------------------------------------------------- load and replay
@dataclass(frozen=True)
class Fixture:
    """One recorded case: what went in and what the engine returned."""

    engine: str
    case: Case
    path: Path
    tolerance: Tolerance
    padded_steps: str
    weights: dict[str, np.ndarray]
    x: np.ndarray
    initial_state: State | None
    lengths: np.ndarray | None
    recorded: RNNOutput
    gradients: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # the ``grad:`` arrays
    gradient_entry: dict | None = None  # the manifest's ``gradients`` field (None: not recorded)


#: The largest manifest read (4 MiB); the committed ones hold about 40 KB. At most this many
#: bytes and one more are read, so a manifest linked to an endless file cannot exhaust memory.
MAX_MANIFEST_BYTES = 4 * 2**20
#: A manifest nests 5 levels deep (manifest, cases, entry, gradients, tolerance); deeper is not one.
MAX_MANIFEST_DEPTH = 16
#: The most problems of one manifest that one message lists.
MAX_LISTED = 10


def contained_file(directory: Path, name: str, what: str) -> Path:
    """``directory / name``, refused when its links lead out of ``directory``.

    A name the file system cannot look up (too long, a loop of links) is an unreadable ``what``
    name. A file that does not exist is left for the reader to report.
    """
    path = directory / name
    try:
        folder = directory.resolve(strict=True)
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        return path
    except (OSError, RuntimeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise FixtureError(f"{directory}: unreadable {what} name {short(name)} ({reason})") from None
    if resolved == folder or folder not in resolved.parents:
        raise FixtureError(f"{path}: is a link to {resolved}, outside the fixtures folder {folder}; refused")
    return path


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the manifest ``path``, a regular file of at most ``limit`` bytes: it reads at most
    ``limit + 1`` bytes, and never waits on a FIFO or reads a device."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise FixtureError(f"{path}: unreadable manifest ({error.strerror or error})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise FixtureError(f"{path}: is not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise FixtureError(f"{path}: unreadable manifest ({error.strerror or error})") from None
    finally:
        os.close(descriptor)
    if size > limit:
        raise FixtureError(f"{path}: larger than {limit} bytes, the most a manifest may hold")
    return b"".join(chunks)


def read_manifest(directory: Path) -> dict:
    """The manifest of a fixtures folder, its structure checked (types, known engine, plain file names).

    Only fields whose meaning is checked here are trusted later: a manifest is data that
    anyone can edit, and a hostile one must never make rnn_ref read or delete files outside
    its folder. It must be a regular file inside the folder, of at most MAX_MANIFEST_BYTES.
    """
    path = contained_file(directory, MANIFEST, "manifest")
    try:
        manifest = json.loads(read_bounded(path, MAX_MANIFEST_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"{directory / MANIFEST}: no manifest (record the fixtures with `rnn-ref record`)") from None
    except RecursionError:
        raise FixtureError(f"{path}: unreadable manifest (nested too deep for the JSON reader)") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits
        raise FixtureError(f"{path}: unreadable manifest ({error})") from None
    if depth_above(manifest, MAX_MANIFEST_DEPTH):
        raise FixtureError(f"{path}: unreadable manifest (nested too deep: more than {MAX_MANIFEST_DEPTH} levels)")
    problems = manifest_problems(manifest)
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    return manifest


def depth_above(value: object, limit: int) -> bool:
    """True when JSON ``value`` nests more than ``limit`` levels of lists and objects (without recursion)."""
    level: list[object] = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (list, dict)) for item in level)


def manifest_problems(manifest: object) -> list[str]:
    """What is wrong with a manifest's structure (each problem names its field or entry).

    Every field a replay or a recording uses is checked here, before it is used: the ids, each
    entry's case (variant, spec, sizes, dtype), a recorded entry's file, tolerance and
    gradients fields, a not-recorded entry's status and reason. Linear in the number of entries.
    """
    if not isinstance(manifest, dict):
        return [f"a manifest is a JSON object, got {type(manifest).__name__}"]
    missing = [key for key in ("engine", "engine_version", "cases") if key not in manifest]
    if missing:
        return [f"manifest lacks {missing}"]
    problems = []
    if not isinstance(manifest["engine"], str) or manifest["engine"] not in engine_names():
        problems.append(f"engine {short(manifest['engine'])} is not a known engine ({', '.join(engine_names())})")
    if not isinstance(manifest["engine_version"], str):
        problems.append(f"engine_version must be a string, got {short(manifest['engine_version'])}")
    for field in ("cases", "not_recorded"):
        entries = manifest.get(field, [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            problems.append(f"{field} must be a list of objects, got {short(str(entries), 60)}")
    if problems:
        return problems
    entries = [(entry, True) for entry in manifest["cases"]]
    entries += [(entry, False) for entry in manifest.get("not_recorded", [])]
    found = iter(problem for entry, recorded in entries for problem in entry_problems(entry, recorded))
    problems = list(itertools.islice(found, MAX_LISTED))  # the rest are not looked for: one is enough to refuse
    if next(found, None) is not None:
        problems.append(f"and more problems (the first {MAX_LISTED} are shown)")
    counts = Counter(entry["id"] for entry, _ in entries if isinstance(entry.get("id"), str))
    repeated = sorted(i for i, count in counts.items() if count > 1)
    if repeated:
        more = f" and {len(repeated) - MAX_LISTED} more" if len(repeated) > MAX_LISTED else ""
        problems.append(f"cases listed more than once: {', '.join(i[:80] for i in repeated[:MAX_LISTED])}{more}")
    if not manifest["cases"] and not manifest.get("not_recorded"):
        problems.append("the manifest holds no case: nothing would be checked")
    return problems


ENTRY_FIELDS = ("id", "file", "variant", "spec", "steps", "batch", "with_state", "with_lengths", "dtype",
                "tolerance", "padded_steps")


def entry_problems(entry: dict, recorded: bool) -> Iterable[str]:
    """What is wrong with one manifest entry (``recorded``: of ``cases``, else of ``not_recorded``)."""
    where = (f"entry {short(entry['id'])}" if "id" in entry
             else f"an entry without an id (file {short(entry.get('file'))})")
    if recorded:
        if not isinstance(entry.get("id"), str):
            yield f"{where}: id must be a string"
            return
        missing = [name for name in ENTRY_FIELDS if name not in entry]
        if missing:
            yield f"{where} lacks {missing}"
            return
        if not plain_file_name(entry["file"]):
            yield (f"{where}: file {short(entry['file'], 300)} is not a plain .npz file name inside the fixtures "
                   "folder (no folders, no '..', not absolute)")
            return
        if "gradients" in entry:
            problem = gradient_entry_problem(entry["gradients"])
            if problem:
                yield f"{where}: {problem}"
                return
    elif not isinstance(entry.get("id"), str) or entry.get("status") not in (UNSUPPORTED, KNOWN_DEFECT) \
            or not isinstance(entry.get("reason"), str):
        yield (f"not_recorded entry {short(str(entry))} needs an id, a status ({UNSUPPORTED!r} or "
               f"{KNOWN_DEFECT!r}) and a reason")
        return
    try:
        case = case_from_entry(entry)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        yield f"{where}: bad entry ({type(error).__name__}: {error})"
        return
    if case.id != entry["id"]:
        yield f"{where}: describes case {case.id!r}"


def plain_file_name(name: object) -> bool:
    """A file name that stays inside its folder: no separators, no '..', not absolute, ends in .npz."""
    return (isinstance(name, str) and name.endswith(".npz") and name not in (".npz", "..npz")
            and "/" not in name and "\\" not in name and "\0" not in name and not name.startswith(".")
            and Path(name).name == name)


def coverage_problems(manifest: dict) -> list[str]:
    """The representative cases that a manifest (checked by ``manifest_problems``) neither recorded nor
    declared not recorded."""
    listed = {entry["id"] for entry in manifest["cases"] + manifest.get("not_recorded", [])}
    missing = [case.id for case in representative_cases() if case.id not in listed]
    if not missing:
        return []
    return [f"{len(missing)} representative case(s) are neither recorded nor declared not recorded: "
            f"{', '.join(missing)} (re-record with `rnn-ref record --engine {manifest['engine']}`)"]


def declared(adapter: Adapter, case: Case) -> tuple[str, str | None]:
    """What ``adapter`` declares for ``case``, as ``execute_case`` reads it: (UNSUPPORTED, reason),
    (KNOWN_DEFECT, report), or (PASS, None) for a case it runs and must compute right."""
    reason = adapter.unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return UNSUPPORTED, reason
    defect = adapter.known_defect(case.spec, case.dtype, case.with_lengths)
    return (KNOWN_DEFECT, defect) if defect is not None else (PASS, None)


def status_text(status: str, reason: str | None) -> str:
    """``pass``, or ``unsupported ('why')`` / ``known defect ('report')``."""
    return status if reason is None else f"{status} ({short(reason, 400)})"


def declaration_problems(manifest: dict) -> list[str]:
    """Where a manifest (checked by ``manifest_problems``) disagrees with its engine's adapter.

    A case the adapter runs must be recorded, and one it declares unsupported or a known defect
    must be not recorded with the adapter's own status and reason; a recorded case's
    ``gradients`` must say what the adapter declares for its gradients (rnn_ref.golden.gradient_replay).
    The adapter's declarations need no framework, so a manifest cannot switch a check off by
    saying "unsupported".
    """
    engine = manifest["engine"]
    adapter = adapter_object(engine)
    problems = []
    try:
        for entry in manifest["cases"]:
            case = case_from_entry(entry)
            declaration = declared(adapter, case)
            if declaration != (PASS, None):
                problems.append(f"{entry['id']}: recorded, but {engine}'s adapter declares it "
                                f"{status_text(*declaration)}")
                continue
            problem = gradient_declaration_problem(adapter, engine, case, entry.get("gradients"))
            if problem:
                problems.append(f"{entry['id']}: {problem}")
        for entry in manifest.get("not_recorded", []):
            declaration = declared(adapter, case_from_entry(entry))
            if declaration == (entry["status"], entry["reason"]):
                continue
            claim = f"{entry['id']}: not recorded as {entry['status']} ({short(entry['reason'])})"
            if declaration == (PASS, None):
                problems.append(f"{claim}, but {engine}'s adapter declares no limit or defect for it: it must be "
                                "recorded")
            else:
                problems.append(f"{claim}, but {engine}'s adapter declares it {status_text(*declaration)}")
    except Exception as error:  # a plug-in's declarations are its own code
        return [f"{engine}'s adapter could not say which cases it runs ({type(error).__name__}: {error})"]
    if len(problems) > MAX_LISTED:
        problems = [*problems[:MAX_LISTED], f"and {len(problems) - MAX_LISTED} more"]
    return problems


def load_fixture(directory: Path, manifest: dict, entry: dict) -> Fixture:
    """One recorded case of ``manifest`` (as ``read_manifest`` gives it): its entry and file checked.

    The file must lie in ``directory`` (a link that leads out of it is refused) and hold
    every array the case needs, in the case's shapes and dtype (``lengths``: integers in 1..T).
    """
    where = f"{directory / MANIFEST}, entry {short(entry.get('id'))}"
    problems = list(entry_problems(entry, recorded=True))
    if problems:
        raise FixtureError(f"{directory / MANIFEST}: {problems[0]}")
    case = case_from_entry(entry)
    # The suite's own tolerance table and the engine's declared padding judge a replay; a
    # manifest that says otherwise was edited or recorded by another version of rnn_ref.
    tolerance = TOLERANCES[case.dtype]
    if entry["tolerance"] != {"atol": tolerance.atol, "rtol": tolerance.rtol}:
        raise FixtureError(f"{where}: tolerance {short(entry['tolerance'])} differs from the table's {tolerance}")
    padding = adapter_object(manifest["engine"]).padded_steps(case.spec)
    if entry["padded_steps"] != padding:
        raise FixtureError(f"{where}: padded steps {short(entry['padded_steps'])}, the adapter declares {padding!r}")
    path = contained_file(directory, entry["file"], "fixture")
    arrays = read_npz(path, FixtureError, "fixture")
    spec = case.spec
    steps_batch = (case.steps, case.batch) if spec.layout == "TNC" else (case.batch, case.steps)
    units = spec.num_layers * spec.num_directions
    expected = {"x": (*steps_batch, spec.input_size), "output": (*steps_batch, spec.output_size),
                "h_n": (units, case.batch, spec.state_size)}
    if spec.has_cell_state:
        expected["c_n"] = (units, case.batch, spec.hidden_size)
    if case.with_state:
        expected["h0"] = expected["h_n"]
        if spec.has_cell_state:
            expected["c0"] = expected["c_n"]
    if case.with_lengths:
        expected["lengths"] = (case.batch,)
    problems = [f"missing array {key!r}" for key in expected if key not in arrays]
    problems += [f"{key}: expected shape {shape}, got {arrays[key].shape}"
                 for key, shape in expected.items() if key in arrays and arrays[key].shape != shape]
    problems += [f"{key}: expected {case.dtype}, got {arrays[key].dtype}" for key in expected
                 if key in arrays and key != "lengths" and arrays[key].dtype != case.dtype]
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    problems = [f"{key} contains NaN or Inf" for key in expected
                if key != "lengths" and not np.isfinite(arrays[key]).all()]
    if case.with_lengths and arrays["lengths"].dtype.kind not in "iu":
        problems.append(f"lengths: expected integers, got {arrays['lengths'].dtype}")
    elif case.with_lengths and not ((arrays["lengths"] >= 1) & (arrays["lengths"] <= case.steps)).all():
        problems.append(f"lengths {arrays['lengths'].tolist()} outside 1..{case.steps}")
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    weights = {k[len(WEIGHT_PREFIX):]: v for k, v in arrays.items() if k.startswith(WEIGHT_PREFIX)}
    return Fixture(
        manifest["engine"], case, path, tolerance, padding, weights,
        arrays["x"], State(arrays["h0"], arrays.get("c0")) if case.with_state else None, arrays.get("lengths"),
        RNNOutput(arrays["output"], arrays["h_n"], arrays.get("c_n")),
        {k: v for k, v in arrays.items() if k.startswith(GRAD_PREFIX)}, entry.get("gradients"),
    )


def replay_fixture(fixture: Fixture) -> CaseResult:
    """Import the recorded weights through the rows, recompute with the reference, judge the record."""
    adapter = adapter_object(fixture.engine)
    spec = fixture.case.spec
    try:
        params = adapter.mapping(spec).to_params(fixture.weights, f"{fixture.path} weights")
        expected = forward(spec, params, fixture.x, fixture.initial_state, fixture.lengths)
    except ValueError as error:
        raise FixtureError(f"{fixture.path}: {error}") from error
    comparisons = judge(spec, fixture.recorded, expected, fixture.lengths, fixture.padded_steps, fixture.tolerance)
    label = adapter.case_label(fixture.case)
    rerun = (f"pytest 'tests/test_fixtures.py::test_recorded_run_is_reproduced_by_the_reference"
             f"[{fixture.engine}-{fixture.case.id}]'")
    return verdict(fixture.engine, fixture.case, label, comparisons, None, rerun)


def load_all(directory: Path, engine: str | None = None) -> tuple[dict, list[Fixture]]:
    """The manifest and every fixture of a folder, all checked; ``engine``: the engine the folder must hold.

    The manifest must cover the representative cases and agree with its adapter's declarations
    (``declaration_problems``) before any fixture file is read.
    """
    manifest = read_manifest(directory)
    if engine is not None and manifest["engine"] != engine:
        raise FixtureError(f"{directory / MANIFEST}: holds fixtures of {manifest['engine']!r}, not {engine!r}")
    problems = coverage_problems(manifest) + declaration_problems(manifest)
    if problems:
        raise FixtureError(f"{directory / MANIFEST}: " + "; ".join(problems))
    return manifest, [load_fixture(directory, manifest, entry) for entry in manifest["cases"]]


def recording_drifts(committed: list[Fixture], fresh: list[Fixture]) -> list[Drift]:
    """Every tensor of a fresh recording against the committed one (see rnn_ref.golden.drift for the bound).

    Inputs and weights are drawn by NumPy's seeded generators and the results computed by the
    framework; all are judged in ULPs of their magnitude, never bit for bit, because the
    committed set was recorded on another machine. Lengths are integers and must be equal.
    """
    if [f.case.id for f in committed] != [f.case.id for f in fresh]:
        ids = sorted({f.case.id for f in committed} ^ {f.case.id for f in fresh})
        return [Drift(", ".join(ids), "recorded cases", float("inf"), float("inf"), False)]
    drifts = []
    for old, new in zip(committed, fresh, strict=True):
        case = old.case.id
        if (old.lengths is None) != (new.lengths is None) or (
                old.lengths is not None and not np.array_equal(old.lengths, new.lengths)):
            drifts.append(Drift(case, "lengths", float("inf"), float("inf"), False))
        pairs = {"x": (old.x, new.x)}
        if old.initial_state is not None and new.initial_state is not None:
            pairs |= {"h0": (old.initial_state.h, new.initial_state.h)}
            if old.initial_state.c is not None:
                pairs |= {"c0": (old.initial_state.c, new.initial_state.c)}
        for name in sorted(set(old.weights) | set(new.weights)):
            pairs[f"weight {name}"] = (old.weights.get(name, np.empty(0)), new.weights.get(name, np.empty(0)))
        for name in sorted(set(old.gradients) | set(new.gradients)):
            pairs[name] = (old.gradients.get(name, np.empty(0)), new.gradients.get(name, np.empty(0)))
        for tensor in ("output", "h_n", "c_n"):
            before, after = getattr(old.recorded, tensor), getattr(new.recorded, tensor)
            if before is not None or after is not None:
                pairs[tensor] = (before if before is not None else np.empty(0), after if after is not None
                                 else np.empty(0))
        drifts += [drift(case, tensor, before, after,
                         GRADIENT_DRIFT_BOUND_ULPS if tensor.startswith(GRAD_PREFIX) else DRIFT_BOUND_ULPS)
                   for tensor, (before, after) in pairs.items()]
    return drifts


def drift_report(engine: str, committed_manifest: dict, fresh_manifest: dict, drifts: list[Drift]) -> str | None:
    """None when every tensor is within the bound; else what changed, with both framework versions."""
    changed = [d.describe() for d in drifts if not d.within]
    if not changed:
        return None
    return (f"{engine} computes differently from its committed fixtures (committed with "
            f"{committed_manifest['engine_version']} on {committed_manifest.get('platform', 'an unnamed platform')}, "
            f"now {fresh_manifest['engine_version']} on {fresh_manifest.get('platform', 'this machine')}):\n  "
            + "\n  ".join(changed))


def not_recorded_results(manifest: dict) -> list[CaseResult]:
    """The cases the recording engine could not run (unsupported) or ran wrong (known defect).

    ``manifest`` is checked (``read_manifest``); a bad entry raises FixtureError naming it.
    """
    results = []
    for entry in manifest.get("not_recorded", []):
        problems = list(entry_problems(entry, recorded=False))
        if problems:
            raise FixtureError(f"not_recorded: {problems[0]}")
        case = case_from_entry(entry)
        label = adapter_object(manifest["engine"]).case_label(case)
        results.append(CaseResult(manifest["engine"], case, label, entry["status"], reason=entry["reason"]))
    return results


def main_record(engine: str, out_dir: Path | None = None) -> dict:  # used by the CLI
    out = out_dir or FIXTURES_ROOT / engine

    def progress(index: int, total: int, case_id: str) -> None:
        if sys.stderr.isatty():
            print(f"\r[{index}/{total}] {engine} {case_id:<50}", end="", file=sys.stderr, flush=True)

    manifest = record(engine, out, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return manifest
