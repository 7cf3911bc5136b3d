"""A manifest against its engine's adapter: what was recorded must be what the adapter declares.

A case the adapter runs must be recorded; one it declares unsupported or a known defect must be
listed as not recorded, with the adapter's own status and reason; a recorded case's
``gradients`` field must say what the adapter declares for its gradients. The declarations
come from the adapter's code, which needs no framework, so a manifest cannot switch a check
off by saying "unsupported". A declaration is ``(status, reason)``: (UNSUPPORTED, reason),
(KNOWN_DEFECT, report) or (PASS, None), read as ``execute_case`` and ``execute_gradient_case``
read it.
"""

from __future__ import annotations

from rnn_ref.adapters import adapter_object
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case
from rnn_ref.golden.manifest import MAX_LISTED, case_from_entry, short
from rnn_ref.judge.runner import KNOWN_DEFECT, PASS, UNSUPPORTED


def declared(adapter: Adapter, case: Case) -> tuple[str, str | None]:
    """What ``adapter`` declares for ``case``, as ``execute_case`` reads it: (UNSUPPORTED, reason),
    (KNOWN_DEFECT, report), or (PASS, None) for a case it runs and must compute right."""
    return declaration(adapter, case, gradients=False)


def declaration(adapter: Adapter, case: Case, *, gradients: bool) -> tuple[str, str | None]:
    """The adapter's one answer about the case (``Adapter.expectation``) as (status, reason or report)."""
    expected = adapter.expectation(case.spec, case.dtype, case.with_lengths, gradients=gradients,
                                  with_state=case.with_state)
    if expected.unsupported is not None:
        return UNSUPPORTED, expected.unsupported
    return (KNOWN_DEFECT, expected.defect) if expected.defect is not None else (PASS, None)


def status_text(status: str, reason: str | None, limit: int = 400) -> str:
    """``pass``, or ``unsupported ('why')`` / ``known defect ('report')`` (the reason cut to ``limit``)."""
    return status if reason is None else f"{status} ({short(reason, limit)})"


def declaration_problems(manifest: dict) -> list[str]:
    """Where a manifest (checked by ``manifest_problems``) disagrees with its engine's adapter.

    A case the adapter runs must be recorded, and one it declares unsupported or a known defect
    must be not recorded with the adapter's own status and reason; a recorded case's
    ``gradients`` must say what the adapter declares for its gradients (``gradient_declaration_problem``).
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


def declared_gradients(adapter: Adapter, case: Case) -> tuple[str, str | None]:
    """What ``adapter`` declares for ``case``'s gradients, as ``execute_gradient_case`` reads it:
    (UNSUPPORTED, reason), (KNOWN_DEFECT, report), or (PASS, None)."""
    return declaration(adapter, case, gradients=True)


def gradient_declaration_problem(adapter: Adapter, engine: str, case: Case, entry: dict | None) -> str | None:
    """Where a recorded case's ``gradients`` field (checked by ``gradient_entry_problem``; None:
    absent) disagrees with what ``adapter`` declares for the case's gradients, or None."""
    status, reason = declared_gradients(adapter, case)
    expected = status_text(status, reason)
    if entry is None:
        return None if status == UNSUPPORTED else f"lacks 'gradients', but {engine}'s adapter declares them {expected}"
    got = (entry["status"], None if entry["status"] == PASS else entry["reason"])
    if got == (status, reason):
        return None
    claim = status_text(*got, limit=80)
    return f"gradients {claim}, but {engine}'s adapter declares them {expected}"
