"""``rnn-ref engines``: every engine the registry knows, where it comes from, and the plug-ins that failed."""

from __future__ import annotations

from rnn_ref.adapters import plugin_problems, registry


def render_engines() -> str:
    """One line per engine (name, origin, whether it runs here, description), then unusable plug-ins.

    Each column is as wide as its longest entry plus two spaces, so a long "runs here" text
    (several missing packages, a Keras backend mismatch) never runs into the description.
    Imports every plug-in (each bounded in time).
    """
    engines = registry()
    rows = [("engine", "from", "runs here", "description")]
    for name, info in engines.items():
        origin = f"plug-in {info.distribution}" if info.distribution else "built-in"
        reason = info.unavailable_reason()
        rows.append((name, origin, "yes" if reason is None else f"no: {reason}", info.description))
    widths = [max(len(row[column]) for row in rows) + 2 for column in range(3)]
    lines = ["".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + row[3]
             for row in rows]
    problems = plugin_problems()
    if problems:
        lines += ["", "Plug-ins that cannot be used (the other engines are unaffected):"]
        lines += [f"- {problem.describe()}" for problem in problems]
    lines += ["", "Plug-ins are declared in the entry-point group 'rnn_ref.engines' "
              "(docs/writing-an-adapter.md)."]
    return "\n".join(lines)
