"""Engines from other packages: the ``rnn_ref.engines`` entry-point group.

An installed distribution declares its engines in its ``pyproject.toml``::

    [project.entry-points."rnn_ref.engines"]
    numpy-lstm = "numpy_lstm_adapter.adapter:NumpyLSTMAdapter"

The value names an ``Adapter`` subclass (``rnn_ref.adapters.Adapter``) whose ``name`` is the
entry-point name. Discovery imports each plug-in's module once (adapter modules import
their framework lazily, so this is cheap). A plug-in that cannot be used — its name clashes
with a built-in engine or with another plug-in, its module fails to import, the object is
not an ``Adapter`` subclass, or its ``name`` differs from the entry-point name — becomes a
``PluginProblem`` that names it and says why; it never stops the other engines.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

GROUP = "rnn_ref.engines"


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


def distribution_of(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def one_line(error: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'cupy'`` (the last line of the traceback)."""
    return traceback.format_exception_only(type(error), error)[-1].strip()


def load_entry_point(entry_point: metadata.EntryPoint, distribution: str) -> Plugin | PluginProblem:
    """Import one plug-in and check that it names an Adapter subclass of the same name."""
    from rnn_ref.adapters.base import Adapter

    name, value = entry_point.name, entry_point.value

    def problem(error: str) -> PluginProblem:
        return PluginProblem(name, value, distribution, error)

    if ":" not in value:
        return problem("the entry point must read 'package.module:AdapterClass'")
    try:
        adapter_class = entry_point.load()
    except Exception as error:  # anything a third-party module raises on import
        return problem(f"could not be imported: {one_line(error)}")
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, Adapter)):
        return problem(f"{value} is not a subclass of rnn_ref.adapters.Adapter")
    declared = getattr(adapter_class, "name", None)
    if declared != name:
        return problem(f"{value}.name is {declared!r}; it must equal the entry-point name {name!r}")
    abstract = sorted(getattr(adapter_class, "__abstractmethods__", ()))
    if abstract:
        return problem(f"{value} does not implement {', '.join(abstract)}")
    doc = (adapter_class.__doc__ or "").strip().splitlines()
    description = doc[0] if doc else f"plug-in from {distribution}"
    return Plugin(name, value, distribution, adapter_class, description)


def discover(builtin: Iterable[str]) -> tuple[dict[str, Plugin], list[PluginProblem]]:
    """Every plug-in declared in the ``rnn_ref.engines`` group, loaded, with the problems found.

    ``builtin`` lists the built-in engine names: a plug-in may not take one of them.
    """
    builtin = set(builtin)
    declared: dict[str, dict[tuple[str, str], metadata.EntryPoint]] = {}
    for entry_point in metadata.entry_points(group=GROUP):
        distribution = distribution_of(entry_point)
        # The same distribution seen twice on sys.path (an editable install and a build folder) is one plug-in.
        declared.setdefault(entry_point.name, {}).setdefault((entry_point.value, distribution), entry_point)
    loaded: dict[str, Plugin] = {}
    problems: list[PluginProblem] = []
    for name in sorted(declared):
        candidates = declared[name]
        if name in builtin:
            problems += [PluginProblem(name, value, dist, f"the name clashes with the built-in engine {name!r}; "
                                       "the built-in is kept (rename the plug-in's entry point)")
                         for value, dist in candidates]
            continue
        if len(candidates) > 1:
            others = "; ".join(f"{value!r} from {dist}" for value, dist in candidates)
            problems += [PluginProblem(name, value, dist, f"{len(candidates)} plug-ins declare this name ({others}); "
                                       "none is used (uninstall or rename one)")
                         for value, dist in candidates]
            continue
        [((_, distribution), entry_point)] = candidates.items()
        outcome = load_entry_point(entry_point, distribution)
        if isinstance(outcome, Plugin):
            loaded[name] = outcome
        else:
            problems.append(outcome)
    return loaded, problems
