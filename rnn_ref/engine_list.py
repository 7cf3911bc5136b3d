"""``rnn-ref engines``: every engine the registry knows, where it comes from, and the plug-ins that failed."""

from __future__ import annotations

from rnn_ref.adapters import plugin_problems, registry


def render_engines() -> str:
    """One line per engine (name, origin, whether it runs here, description), then unusable plug-ins."""
    engines = registry()
    width = max((len(name) for name in engines), default=6) + 2
    lines = [f"{'engine':<{width}}{'from':<34}{'runs here':<24}description"]
    for name, info in engines.items():
        origin = f"plug-in {info.distribution}" if info.distribution else "built-in"
        status = "yes" if info.installed() else f"no: {info.unavailable_reason()}"
        lines.append(f"{name:<{width}}{origin:<34}{status:<24}{info.description}")
    problems = plugin_problems()
    if problems:
        lines += ["", "Plug-ins that cannot be used (the other engines are unaffected):"]
        lines += [f"- {problem.describe()}" for problem in problems]
    lines += ["", "Plug-ins are declared in the entry-point group 'rnn_ref.engines' "
              "(docs/writing-an-adapter.md)."]
    return "\n".join(lines)
