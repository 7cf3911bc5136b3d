"""The pytest plugin of rnn_ref: the ``--engines`` option (pytest11 entry point ``rnn_ref.pytest_plugin``).

pytest loads this module in every session where rnn_ref is installed, so it only adds the
option, the markers and the report header; it parametrizes nothing. The equivalence matrix
is parametrized by ``rnn_ref.suite.matrix``, which ``rnn_ref/suite/conftest.py`` (the shipped
suite: ``pytest --pyargs rnn_ref.suite --engines NAME``) and this repository's
``tests/conftest.py`` import: another project's own ``engine`` or ``case`` fixtures are never
touched.

``--engines torch,keras`` selects engines by name (built-in or plug-in); ``--engines
installed`` (the default) selects every engine whose framework is importable, and
``--engines none`` selects none. An unknown name, a plug-in that failed to load, or a
requested engine that is not installed stops the run with an error: a requested engine is
never skipped silently.
"""

from __future__ import annotations

import pytest

MARKERS = (
    "engine: runs a real framework (selected with --engines)",
    "slow: large shapes (T=200, H=128); deselect with -m 'not slow'",
    "small_specs_only: run over one case per spec (no state, full lengths, TNC)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    from rnn_ref.adapters import ENGINES

    group = parser.getgroup("rnn_ref", "rnn_ref equivalence suite")
    group.addoption(
        "--engines",
        default="installed",
        help=(
            "comma-separated engines to check against the reference (built-in: "
            f"{', '.join(ENGINES)}; plug-ins from installed packages: `rnn-ref engines` lists all); "
            "'installed' = all importable (default), 'none' = reference-only run"
        ),
    )


def selected_engines(config: pytest.Config) -> list[str]:
    """Parse and validate ``--engines``; raises pytest.UsageError on a bad request."""
    from rnn_ref.adapters import engine_info, installed_engines

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
            how = (f"reinstall {info.distribution}" if info.distribution
                   else f"run its tox env (tox -e {info.requires}) or install rnn-ref[{info.requires}]")
            raise pytest.UsageError(f"--engines: engine {name!r} was requested but cannot run here ({reason}); {how}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.rnn_ref_engines = selected_engines(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from rnn_ref.adapters import plugin_problems

    lines = [f"rnn_ref engines: {', '.join(config.rnn_ref_engines) or 'none (reference only)'}"]
    lines += [f"rnn_ref: not loaded: {problem.describe()}" for problem in plugin_problems()]
    return lines
