"""Engines from other packages: the ``rnn_ref.engines`` entry-point group.

An installed distribution declares its engines in its ``pyproject.toml``::

    [project.entry-points."rnn_ref.engines"]
    numpy-lstm = "numpy_lstm_adapter.adapter:NumpyLSTMAdapter"

The value names an ``Adapter`` subclass (``rnn_ref.adapters.Adapter``) whose ``name`` is the
entry-point name.

Discovery has two steps, so that a plug-in's code runs only where it is needed:

- ``declared`` reads the entry points from the installed distributions' metadata. It imports
  nothing, so listing engine names costs no plug-in code (``rnn-ref map torch`` and a pytest
  session of another project never run any).
- ``load_entry_point`` imports one plug-in's module, when a command or the suite asks for that
  engine (or for every engine: ``rnn-ref engines``, ``rnn-ref check`` without ``--engines``).
  The import is bounded in time (``import_seconds``: ``DEFAULT_IMPORT_SECONDS``, or the
  environment variable ``RNN_REF_IMPORT_TIMEOUT`` in seconds, 0 = no bound), what it prints
  to stdout or stderr is kept out of the command's output, and whatever it raises —
  ``SystemExit`` (a module that parses arguments at import) and ``KeyboardInterrupt`` raised
  by its own code included — is caught.

A plug-in that cannot be used — its name clashes with a built-in engine or with another
plug-in, its module fails to import, exits, or does not finish importing in time, the object
is not an ``Adapter`` subclass, or its ``name`` differs from the entry-point name — becomes a
``PluginProblem`` that names it and its distribution and says why (with what it printed, if
anything); it never stops the other engines.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from rnn_ref.core.deadline import DEFAULT_IMPORT_SECONDS, DeadlineExceeded, seconds_from_environment, within

GROUP = "rnn_ref.engines"
#: seconds importing one plug-in's module may take (0: no bound); default DEFAULT_IMPORT_SECONDS
IMPORT_TIMEOUT_VARIABLE = "RNN_REF_IMPORT_TIMEOUT"
#: characters of a failed import's printed output quoted in its problem line
PRINTED_CHARACTERS = 200


@dataclass(frozen=True)
class Plugin:
    """A plug-in engine that loaded: its entry point, where it comes from, and its adapter class."""

    name: str
    value: str  # "package.module:AdapterClass"
    distribution: str  # "numpy-lstm-adapter 0.1.0"
    adapter_class: type
    description: str


@dataclass(frozen=True)
class PluginProblem:
    """A plug-in engine that cannot be used, and why (one line)."""

    name: str
    value: str
    distribution: str
    error: str

    def describe(self) -> str:
        return f"plug-in engine {self.name!r} ({self.name} = {self.value!r} from {self.distribution}): {self.error}"


@dataclass(frozen=True)
class Declared:
    """A plug-in as its distribution's metadata declares it, not imported yet."""

    entry_point: metadata.EntryPoint
    distribution: str


def distribution_of(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def one_line(error: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'cupy'`` (the last line of the traceback)."""
    return traceback.format_exception_only(type(error), error)[-1].strip()


def import_seconds() -> float:
    """The bound on one plug-in import: ``RNN_REF_IMPORT_TIMEOUT`` where set (0: none), else the default.

    A value that is not a number of seconds raises ValueError naming the variable."""
    return seconds_from_environment(IMPORT_TIMEOUT_VARIABLE, DEFAULT_IMPORT_SECONDS)


def printed_note(printed: str) -> str:
    """``; it printed: 'usage: ...'`` (whitespace folded, cut at PRINTED_CHARACTERS), or "" if it printed nothing."""
    text = " ".join(printed.split())
    if not text:
        return ""
    if len(text) > PRINTED_CHARACTERS:
        text = text[:PRINTED_CHARACTERS] + "..."
    return f"; it printed: {text!r}"


def import_quietly(entry_point: metadata.EntryPoint, seconds: float) -> tuple[object, BaseException | None, str]:
    """``entry_point.load()`` within ``seconds``: (the object or None, what it raised or None, what it printed).

    stdout and stderr are redirected while the module runs, so what it prints never reaches
    the command's output (``map --format json`` stays JSON). With a bound the import runs in a
    worker thread (``deadline.within``) and anything it raises is caught there: a
    KeyboardInterrupt that comes back from it was raised by the plug-in's code, since signals
    reach the main thread only. A real Ctrl-C interrupts the wait in the main thread and stops
    the command, as does ``DeadlineExceeded``, which the caller reports. Without a bound
    (``seconds`` 0) the import runs here, and a KeyboardInterrupt may be the user's: it stops
    the command. After a time-out the worker is left running; should it print later, that
    output is no longer redirected.
    """

    def load() -> tuple[object, BaseException | None]:
        try:
            return entry_point.load(), None
        except KeyboardInterrupt:
            if not seconds:
                raise
            return None, KeyboardInterrupt()
        except BaseException as error:  # SystemExit too: a plug-in never ends the command
            return None, error

    printed = io.StringIO()
    with quiet_descriptors() as written, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        loaded, error = within(seconds, f"importing plug-in {entry_point.name!r}", load)
    return loaded, error, printed.getvalue() + written()


@contextlib.contextmanager
def quiet_descriptors() -> Iterator[Callable[[], str]]:
    """File descriptors 1 and 2 point at a temporary file for the duration: what a plug-in writes
    beneath ``sys.stdout`` (``os.write(1, ...)``, a C library's banner) stays out of the command's
    output too. Yields a function that returns what was written there. A descriptor that is not
    open (stdout closed) is left alone; after a time-out the real ones are back, so a worker that
    writes later reaches them."""
    saved: list[tuple[int, int]] = []
    text: list[str] = []
    with tempfile.TemporaryFile() as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for descriptor in (1, 2):
            with contextlib.suppress(OSError):
                saved.append((descriptor, os.dup(descriptor)))
        for descriptor, _ in saved:
            os.dup2(sink.fileno(), descriptor)
        try:
            yield lambda: "".join(text)
        finally:
            for descriptor, copy in saved:
                os.dup2(copy, descriptor)
                os.close(copy)
            sink.seek(0)
            text.append(sink.read(1 << 16).decode("utf-8", "replace"))


def import_failure(error: BaseException) -> str:
    """What a failed import did, in words: an exit, an interrupt, or the exception's last line."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r}) while being imported"
    if isinstance(error, KeyboardInterrupt):
        return "raised KeyboardInterrupt while being imported"
    return f"could not be imported: {one_line(error)}"


def load_entry_point(entry_point: metadata.EntryPoint, distribution: str) -> Plugin | PluginProblem:
    """Import one plug-in (bounded, quietly) and check that it names an Adapter subclass of the same name."""
    from rnn_ref.adapters.adapter import Adapter

    name, value = entry_point.name, entry_point.value

    def problem(error: str) -> PluginProblem:
        return PluginProblem(name, value, distribution, error)

    try:
        seconds = import_seconds()
    except ValueError as reason:
        return problem(f"was not imported: {reason}")
    try:
        adapter_class, error, printed = import_quietly(entry_point, seconds)
    except DeadlineExceeded:
        return problem(f"did not import within {seconds:g} s (its module blocks or is slow at import; "
                       f"{IMPORT_TIMEOUT_VARIABLE}=SECONDS changes the bound, 0 removes it)")
    if error is not None:
        return problem(import_failure(error) + printed_note(printed))
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, Adapter)):
        return problem(f"{value} is not a subclass of rnn_ref.adapters.Adapter")
    declared_name = getattr(adapter_class, "name", None)
    if declared_name != name:
        return problem(f"{value}.name is {declared_name!r}; it must equal the entry-point name {name!r}")
    abstract = sorted(getattr(adapter_class, "__abstractmethods__", ()))
    if abstract:
        return problem(f"{value} does not implement {', '.join(abstract)}")
    doc = (adapter_class.__doc__ or "").strip().splitlines()
    description = doc[0] if doc else f"plug-in from {distribution}"
    return Plugin(name, value, distribution, adapter_class, description)


def declared(builtin: Iterable[str]) -> tuple[dict[str, Declared], list[PluginProblem]]:
    """Every plug-in of the ``rnn_ref.engines`` group from metadata alone (nothing is imported).

    Returns the usable declarations by name, and the problems visible without importing: a
    name that clashes with a built-in engine (``builtin``), a name two distributions claim, and
    a value that is not ``module:Class``.
    """
    builtin = set(builtin)
    by_name: dict[str, dict[tuple[str, str], metadata.EntryPoint]] = {}
    for entry_point in metadata.entry_points(group=GROUP):
        distribution = distribution_of(entry_point)
        # The same distribution seen twice on sys.path (an editable install and a build folder) is one plug-in.
        by_name.setdefault(entry_point.name, {}).setdefault((entry_point.value, distribution), entry_point)
    usable: dict[str, Declared] = {}
    problems: list[PluginProblem] = []
    for name in sorted(by_name):
        candidates = by_name[name]
        if name in builtin:
            problems += [PluginProblem(name, value, dist, f"the name clashes with the built-in engine {name!r}; "
                                       "the built-in is kept (rename the plug-in's entry point)")
                         for value, dist in candidates]
        elif len(candidates) > 1:
            others = "; ".join(f"{value!r} from {dist}" for value, dist in candidates)
            problems += [PluginProblem(name, value, dist, f"{len(candidates)} plug-ins declare this name ({others}); "
                                       "none is used (uninstall or rename one)")
                         for value, dist in candidates]
        else:
            [((value, distribution), entry_point)] = candidates.items()
            if ":" in value:
                usable[name] = Declared(entry_point, distribution)
            else:
                problems.append(PluginProblem(name, value, distribution,
                                              "the entry point must read 'package.module:AdapterClass'"))
    return usable, problems

