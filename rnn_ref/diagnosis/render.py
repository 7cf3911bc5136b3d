"""The words of a diagnosis: one line per finding, its residual, the command that writes the correct file; and JSON.

JSON (``--format json``; the contract of design.md's diagnose section)::

    {"verdict": "agree" | "explained" | "unexplained", "exit_code": 0 | 1 | 2,
     "form": "weights" | "outputs", "residual": <max abs error after undoing the findings>,
     "tolerance": {"atol": ..., "rtol": ...},
     "findings": [{"kind": ..., "parameters": {...}, "message": ...}, ...],   # [] unless explained
     "alternatives": [[finding, ...], ...],     # other sets of the same size that reproduce it too
     "best_candidate": [finding, ...],          # unexplained only: the closest set tried
     "invisible": [finding, ...],               # catalog mistakes that change nothing here
     "convert": "rnn-ref convert ..." | null}   # the weights form: the command that writes the correct file
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from rnn_ref.core.spec import RNNSpec
from rnn_ref.diagnosis.findings import AGREE, EXPLAINED, Diagnosis


def layer_flags(spec: RNNSpec) -> list[str]:
    """The ``rnn-ref convert`` layer flags that describe ``spec`` exactly."""
    flags = ["--mode", spec.mode, "--layers", str(spec.num_layers)]
    flags += ["--bidirectional"] if spec.bidirectional else []
    flags += ["--proj-size", str(spec.proj_size)] if spec.proj_size else []
    flags += ["--gru-variant", spec.gru_variant] if spec.mode == "gru" and spec.gru_variant else []
    flags += [] if spec.bias else ["--no-bias"]
    return [*flags, "--input-size", str(spec.input_size), "--hidden-size", str(spec.hidden_size)]


def fixed_name(target: Path, suffix: str) -> Path:
    """``w.weights.h5`` -> ``w.fixed.weights.h5``: beside the target, never the target itself."""
    stem = target.name[: len(target.name) - len(suffix)] if suffix and target.name.endswith(suffix) else target.name
    return target.with_name(f"{stem}.fixed{suffix}")


def convert_command(source: str, target: str, spec: RNNSpec, source_path: Path, fixed: Path,
                    prefix: str = "") -> str:
    words = ["rnn-ref", "convert", "--from", source, "--to", target, *layer_flags(spec)]
    words += ["--prefix", prefix] if prefix else []
    return " ".join(shlex.quote(word) for word in [*words, str(source_path), str(fixed)])


def to_json(diagnosis: Diagnosis, form: str, convert: str | None) -> dict[str, Any]:
    explained = diagnosis.verdict == EXPLAINED
    return {
        "verdict": diagnosis.verdict,
        "exit_code": diagnosis.exit_code,
        "form": form,
        "residual": diagnosis.residual,
        "tolerance": {"atol": diagnosis.tolerance.atol, "rtol": diagnosis.tolerance.rtol},
        "findings": [m.to_json() for m in diagnosis.findings] if explained else [],
        "alternatives": [[m.to_json() for m in alternative] for alternative in diagnosis.alternatives],
        "best_candidate": [] if explained or diagnosis.verdict == AGREE else [m.to_json() for m in diagnosis.findings],
        "invisible": [m.to_json() for m in diagnosis.invisible],
        "convert": convert if diagnosis.verdict != AGREE else None,
    }


def render_json(diagnosis: Diagnosis, form: str, convert: str | None) -> str:
    return json.dumps(to_json(diagnosis, form, convert), indent=2)


def render_text(diagnosis: Diagnosis, subject: str, convert: str | None) -> str:
    """What ``rnn-ref diagnose`` prints: ``subject`` is what was compared (``'TARGET (B) as a conversion of
    SOURCE (A)'``)."""
    tolerance = f"tolerance atol {diagnosis.tolerance.atol:g}, rtol {diagnosis.tolerance.rtol:g}"
    if diagnosis.verdict == AGREE:
        return f"no difference: {subject} is correct (max abs error {diagnosis.residual:.3g}, {tolerance})"
    lines = []
    if diagnosis.verdict == EXPLAINED:
        count = len(diagnosis.findings)
        lines.append(f"{subject}: explained by {count} mistake{'s' if count > 1 else ''}:")
        lines += [f"  {m.kind}: {m.says}" for m in diagnosis.findings]
        lines.append(f"residual after undoing {'it' if count == 1 else 'them'}: {diagnosis.residual:.3g} ({tolerance})")
        for alternative in diagnosis.alternatives:
            lines.append("equally explained by: " + "; ".join(f"{m.kind}: {m.says}" for m in alternative))
    else:
        lines.append(f"{subject}: no mistake in the catalog explains it (no set of one or two mistakes "
                     f"reproduces it within {tolerance})")
        best = "; ".join(f"{m.kind}: {m.says}" for m in diagnosis.findings) or "no mistake at all"
        lines.append(f"best candidate: {best}, residual {diagnosis.residual:.3g}")
    if convert is not None:
        lines.append(f"the correct file: {convert}")
    return "\n".join(lines)
