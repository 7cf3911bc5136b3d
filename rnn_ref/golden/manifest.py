"""The golden fixtures' file format, and the checks that read a manifest before anything trusts it.

A recording of engine ``E`` is a folder ``fixtures/E/`` (rnn_ref.golden.recording writes it) of

* one ``<case id>.npz`` per recorded case: the engine's native weights (``weight:<native
  name>``), the inputs (``x``, ``h0``, ``c0``, ``lengths``) and the engine's results
  (``output``, ``h_n``, ``c_n``), shaped as the reference's (x (T, N, I) or (N, T, I) in the
  case's layout; h (L·D, N, R); c (L·D, N, H)); where the gradients were recorded also, under
  the ``grad:`` prefix, the cotangents the engine was given (``grad:cot_output``,
  ``grad:cot_h_n``, ``grad:cot_c_n``), its gradients of the inputs (``grad:x``, and
  ``grad:h0``/``grad:c0`` when states were given) and of every native parameter
  (``grad:weight:<native name>``);
* ``manifest.json``: engine and version, how it was recorded, and per case its id, file, the
  case's fields (``case_entry``), tolerance, padded steps and ``gradients`` (``{"status":
  "pass", "tolerance": {...}}``, or ``{"status": "unsupported" | "known defect", "reason":
  ...}``); under ``not_recorded`` the cases not recorded, with the status and reason.

A manifest is data anyone can edit: ``read_manifest`` checks every field a replay or a
recording uses (types, a known engine, plain file names inside the folder, sizes) before it
is used, reads at most ``MAX_MANIFEST_BYTES`` from a regular file, and names the field or
entry that is wrong. Fixture files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rnn_ref.adapters import engine_names
from rnn_ref.cases.matrix import DTYPES, OPTION_SETS, VARIANTS, Case, option_cases, small_matrix
from rnn_ref.core.compare import Tolerance
from rnn_ref.core.spec import RNNSpec
from rnn_ref.judge.runner import KNOWN_DEFECT, PASS, UNSUPPORTED

MANIFEST = "manifest.json"
WEIGHT_PREFIX = "weight:"
GRAD_PREFIX = "grad:"
#: What the engine's runtime holds in place of the weights (``Adapter.held_arrays``), for its reference.
HELD_PREFIX = "held:"
#: What a manifest's ``gradients`` field may say.
GRADIENT_STATUSES = (PASS, UNSUPPORTED, KNOWN_DEFECT)

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


#: The recorded option cases: one per option set and per combination of ``option_cases()``, the
#: variants taking turns in this order (the first of them, from the turn's, that the option set
#: applies to), so each option is recorded once and each variant's options are recorded too.
REPRESENTATIVE_OPTION_VARIANTS = ("lstm", "gru", "rnn_tanh")


def representative_option_cases() -> list[Case]:
    """One option case per option set and combination (``REPRESENTATIVE_OPTION_VARIANTS``)."""
    by_options: dict[tuple[str, ...], dict[str, Case]] = {}
    for case in option_cases():
        by_options.setdefault(case.options, {}).setdefault(case.variant, case)
    chosen = []
    turn = 0
    for cases in by_options.values():
        order = REPRESENTATIVE_OPTION_VARIANTS[turn:] + REPRESENTATIVE_OPTION_VARIANTS[:turn]
        variant = next((v for v in order if v in cases), None)
        if variant is not None:
            chosen.append(cases[variant])
            turn = (turn + 1) % len(REPRESENTATIVE_OPTION_VARIANTS)
    return chosen


def representative_cases() -> list[Case]:
    wanted = set(REPRESENTATIVE)
    plain = [
        c for c in small_matrix()
        if (c.spec.num_layers, c.spec.bidirectional, c.spec.layout, c.with_state, c.with_lengths, c.spec.bias,
            c.dtype) in wanted
    ]
    return plain + representative_option_cases()


def case_entry(case: Case) -> dict:
    return {"variant": case.variant, "spec": case.spec.to_dict(), "steps": case.steps, "batch": case.batch,
            "with_state": case.with_state, "with_lengths": case.with_lengths, "dtype": case.dtype,
            "short_lengths": case.short_lengths} | ({"options": list(case.options)} if case.options else {})


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
    options = entry.get("options", [])
    if not isinstance(options, list) or any(token not in OPTION_SETS for token in options):
        raise ValueError(f"options {short(options)} is not a list of option tokens ({', '.join(OPTION_SETS)})")
    return Case(entry["variant"], RNNSpec.from_dict(entry["spec"]), entry["steps"], entry["batch"],
                entry["with_state"], entry["with_lengths"], entry["dtype"],
                short_lengths=entry.get("short_lengths", False), options=tuple(options))


#: No recorded case has more steps or samples than this (the matrix's largest has 200 steps).
MAX_CASE_SIZE = 10_000

#: The largest manifest read (4 MiB); the committed ones hold about 40 KB. At most this many
#: bytes and one more are read, so a manifest linked to an endless file cannot exhaust memory.
MAX_MANIFEST_BYTES = 4 * 2**20
#: A manifest nests 5 levels deep (manifest, cases, entry, gradients, tolerance); deeper is not one.
MAX_MANIFEST_DEPTH = 16
#: The most problems of one manifest that one message lists.
MAX_LISTED = 10


def short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a manifest's strings can be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def tolerance_field(tolerance: Tolerance) -> dict:
    """A tolerance as the manifest writes it (and as a replay requires it to be)."""
    return {"atol": tolerance.atol, "rtol": tolerance.rtol}


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



def gradient_entry_problem(entry: object) -> str | None:
    """What is wrong with the structure of a manifest's ``gradients`` field, or None."""
    if not isinstance(entry, dict):
        return f"gradients {short(entry)} is not an object with a status"
    status = entry.get("status")
    if status not in GRADIENT_STATUSES:
        return f"gradients status {short(status)} is not one of {', '.join(GRADIENT_STATUSES)}"
    if status == PASS and not isinstance(entry.get("tolerance"), dict):
        return f"gradients of status {PASS!r} need a tolerance"
    if status != PASS and not isinstance(entry.get("reason"), str):
        return f"gradients of status {status!r} need a reason"
    return None
