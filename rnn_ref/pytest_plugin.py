"""The pytest plugin of rnn_ref: the ``--engines`` option (pytest11 entry point ``rnn_ref.pytest_plugin``).

pytest loads this module in every session where rnn_ref is installed, so it only adds the
option, the markers and the report header; it parametrizes nothing, and it imports no
plug-in engine: a plug-in that hangs or exits at import cannot touch another project's
pytest session. The equivalence matrix is parametrized by ``rnn_ref.suite.matrix``, which
``rnn_ref/suite/conftest.py`` (the shipped suite: ``pytest --pyargs rnn_ref.suite --engines
NAME``) and this repository's ``tests/conftest.py`` import: another project's own ``engine``
or ``case`` fixtures are never touched.

``--engines torch,keras`` selects engines by name (built-in or plug-in; each name once, in
order); ``--engines installed`` (the default) selects every engine whose framework is
importable, and ``--engines none`` selects none (a reference-only run). A value that names no
engine (``''``, ``','``: an unset CI variable in ``--engines "$ENGINE"``) is a usage error,
as it is for ``rnn-ref check``.

A requested engine is never skipped silently. What can be checked without importing a
plug-in is checked at startup, a usage error (exit 4): a value naming no engine, an unknown
name, a name two distributions declare, a built-in engine that cannot run here. The rest of
the selection is resolved lazily (``selection``): named plug-ins when the suite's conftest is
loaded (one that fails to import or cannot run here stops the run: a usage error when that
conftest is loaded at startup, as for ``pytest tests/``, a collection error naming it under
``--pyargs rnn_ref.suite``), ``installed`` when the matrix first parametrizes a test (that
imports every plug-in, each bounded in time; one that cannot be used becomes a
``PluginWarning`` naming it). Only then are plug-ins imported. ``config.rnn_ref_engines`` is
that selection as a sequence of names.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import pytest

MARKERS = (
    "engine: runs a real framework (selected with --engines)",
    "slow: large shapes (T=200, H=128); deselect with -m 'not slow'",
    "small_specs_only: run over one case per spec (no state, full lengths, TNC)",
)
INSTALLED, NONE = "installed", "none"


class PluginWarning(pytest.PytestWarning):
    """A plug-in engine that cannot be used, found while ``--engines installed`` was resolved."""


def pytest_addoption(parser: pytest.Parser) -> None:
    from rnn_ref.adapters import ENGINES

    group = parser.getgroup("rnn_ref", "rnn_ref equivalence suite")
    group.addoption(
        "--engines",
        default=INSTALLED,
        help=(
            "comma-separated engines to check against the reference, each once (built-in: "
            f"{', '.join(ENGINES)}; plug-ins from installed packages: `rnn-ref engines` lists all); "
            "'installed' = all importable (default), 'none' = reference-only run; a value naming no "
            "engine ('' or ',') is an error"
        ),
    )
    group.addoption(
        "--full-gradients",
        action="store_true",
        help=("differentiate the whole case matrix on every selected engine, also on those whose adapter "
              "declares slow_gradients (by default they differentiate the pairwise subset live)"),
    )
    group.addoption(
        "--results",
        dest="rnn_ref_results",
        metavar="FILE",
        help="write every matrix test's verdict as JSON lines to FILE (docs/results-schema.md), for `rnn-ref report`",
    )


def requested(config: pytest.Config) -> list[str] | None:
    """``--engines`` parsed without importing anything: the names, ``[]`` for ``none``, None for ``installed``.

    Raises pytest.UsageError for a value that names no engine."""
    from rnn_ref.adapters import unique_engine_names

    value = config.getoption("--engines")
    if value.strip() == INSTALLED:
        return None
    if value.strip() == NONE:
        return []
    try:
        return unique_engine_names(value)
    except ValueError as error:
        raise pytest.UsageError(f"{error}: give NAME[,NAME...], '{INSTALLED}' or '{NONE}'") from None


def validated(names: list[str]) -> list[str]:
    """``names`` when each is an engine that loads and runs here (imports those plug-ins); else pytest.UsageError."""
    from rnn_ref.adapters import engine_info

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


def validated_without_import(names: list[str]) -> None:
    """Check what needs no plug-in import: each of ``names`` is a built-in that runs here or a
    plug-in some distribution declares usably; else pytest.UsageError. (Whether a declared
    plug-in imports is ``validated``'s question, asked when rnn_ref's suite is collected.)"""
    from rnn_ref.adapters import declared_plugins

    usable = declared_plugins()[0]
    validated([name for name in names if name not in usable])  # built-ins and unknown names: nothing to import


def every_installed_engine() -> list[str]:
    """``--engines installed``: every engine that runs here; each plug-in that cannot be used is a PluginWarning."""
    from rnn_ref.adapters import installed_engines, plugin_problems

    engines = installed_engines()
    for problem in plugin_problems():
        warnings.warn(PluginWarning(f"rnn_ref: not loaded: {problem.describe()}"), stacklevel=2)
    return engines


class Selection(Sequence[str]):
    """The engines ``--engines`` selects, resolved on first use (``resolve``), then kept for the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.names: list[str] | None = None

    def resolve(self) -> list[str]:
        if self.names is None:
            names = requested(self.config)
            self.names = every_installed_engine() if names is None else validated(names)
        return self.names

    def __getitem__(self, index):
        return self.resolve()[index]

    def __len__(self) -> int:
        return len(self.resolve())

    def __iter__(self) -> Iterator[str]:
        return iter(self.resolve())

    def __contains__(self, name: object) -> bool:
        return name in self.resolve()

    def __repr__(self) -> str:
        return f"Selection({self.names if self.names is not None else 'not resolved yet'})"


def selection(config: pytest.Config) -> Selection:
    """The session's engine selection, ``config.rnn_ref_engines`` (made by whichever hook asks first:
    a conftest's ``pytest_configure`` may run before this plugin's)."""
    engines = getattr(config, "rnn_ref_engines", None)
    if not isinstance(engines, Selection):
        engines = config.rnn_ref_engines = Selection(config)
    return engines


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    names = requested(config)  # a value that names no engine stops any session that passes it, at once
    if names:
        validated_without_import(names)  # so does an unknown name, or a built-in that cannot run here
    if names is not None:  # and a bad RNN_REF_CASE_TIMEOUT, in a session that asks for rnn_ref's engines
        check_case_bound()
    selection(config)
    from rnn_ref.results.pytest_results import configure

    configure(config)


def check_case_bound() -> None:
    """A bad ``RNN_REF_CASE_TIMEOUT`` as a usage error (else every case of the matrix fails on it)."""
    from rnn_ref.core.deadline import case_seconds

    try:
        case_seconds()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What ``--engines`` asks for, without importing plug-ins (``installed`` resolves when the suite is collected)."""
    engines = selection(config)
    if engines.names is not None:
        return [f"rnn_ref engines: {', '.join(engines.names) or 'none (reference only)'}"]
    names = requested(config)
    if names is not None:
        return [f"rnn_ref engines: {', '.join(names) or 'none (reference only)'}"]
    from rnn_ref.adapters import ENGINES, engine_names

    built_in = [name for name, info in ENGINES.items() if info.installed()]
    plugins = [name for name in engine_names() if name not in ENGINES]
    line = f"rnn_ref engines: installed: {', '.join(built_in) or 'no built-in'}"
    return [line + (f"; plug-ins, imported when rnn_ref's suite is collected: {', '.join(plugins)}" if plugins else "")]
