"""Root pytest configuration: engine selection.

``--engines torch,keras`` selects engines by name; ``--engines installed`` (the default)
selects every engine whose framework is importable, and ``--engines none`` selects none.
An unknown name, or a requested engine that is not installed, stops the run with an error:
a requested engine is never skipped silently.
"""

from __future__ import annotations

import pytest

from rnn_ref.adapters import ENGINES, engine_info, installed_engines


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engines",
        default="installed",
        help=(
            "comma-separated engines to check against the reference "
            f"(known: {', '.join(ENGINES) or 'none yet'}); 'installed' = all importable "
            "(default), 'none' = reference-only run"
        ),
    )


def selected_engines(config: pytest.Config) -> list[str]:
    """Parse and validate ``--engines``; raises pytest.UsageError on a bad request."""
    raw = config.getoption("--engines").strip()
    if raw == "installed":
        return installed_engines()
    if raw in ("", "none"):
        return []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        try:
            info = engine_info(name)
        except ValueError as error:
            raise pytest.UsageError(f"--engines: {error}") from None
        reason = info.unavailable_reason()
        if reason is not None:
            raise pytest.UsageError(
                f"--engines: engine {name!r} was requested but cannot run here ({reason}); "
                f"run its tox env (tox -e {info.requires}) or install rnn-ref[{info.requires}]"
            )
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.rnn_ref_engines = selected_engines(config)


def pytest_report_header(config: pytest.Config) -> str:
    return f"rnn_ref engines: {', '.join(config.rnn_ref_engines) or 'none (reference only)'}"
