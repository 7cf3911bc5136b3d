"""Registry of engines: which adapter runs which framework, built-in or from another package.

An engine is a way of running a recurrent layer (``torch`` runs the fused ``torch.nn.LSTM``,
``torch-cell`` unrolls ``torch.nn.LSTMCell``). The built-in engines are the rows their families
declare (``rnn_ref/adapters/<family>/__init__.py``), collected below in ``FAMILIES`` order;
installed distributions add plug-in engines through the ``rnn_ref.engines`` entry-point group
(``rnn_ref/adapters/plugins.py``). Both are looked up the same way (``engine_names``,
``engine_info``, ``load_adapter``), so every command and the pytest plugin take a plug-in
engine like a built-in one. Each adapter module imports its framework lazily, so this
registry and ``import rnn_ref`` need NumPy alone. Plug-ins are imported lazily too: names
come from the distributions' metadata, looking one engine up imports that plug-in alone
(bounded in time, rnn_ref/adapters/plugins.py), and only ``registry()``, ``plugin_problems()``
and ``installed_engines()`` import them all. The families also declare their weight file
formats (``FORMATS``, rnn_ref/adapters/file_format.py), collected by ``file_formats()``.
"""

from __future__ import annotations

import dataclasses
import importlib
import traceback
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Any

from rnn_ref.adapters.engine_info import EngineInfo, in_family
from rnn_ref.adapters.file_format import HOOKS, NPZ, FileFormat
from rnn_ref.adapters.plugins import Declared, Plugin, PluginProblem, declared, load_entry_point, one_line
from rnn_ref.core.deadline import CalledCodeExited, DeadlineExceeded, case_seconds, within
from rnn_ref.core.errors import ParamsError

#: the built-in engine families, each a package under rnn_ref/adapters/ that declares ``ENGINES``
FAMILIES = ("torch", "keras", "mxnet", "onnx", "converted", "flax", "paddle")


def family_package(family: str) -> Any:
    """The package ``rnn_ref/adapters/<family>/``, which declares the family's rows (no framework imported)."""
    return importlib.import_module(f"rnn_ref.adapters.{family}")


def built_in_engines() -> dict[str, EngineInfo]:
    """Every family's rows by name, in ``FAMILIES`` order (imports the families' rows, no framework)."""
    return checked_rows([(family, dataclasses.replace(row, adapter=in_family(family, row.adapter)))
                         for family in FAMILIES for row in family_package(family).ENGINES])


def checked_rows(rows: list[tuple[str, EngineInfo]]) -> dict[str, EngineInfo]:
    """(family, row) pairs as rows by name; a name declared twice raises RuntimeError naming both places."""
    engines: dict[str, tuple[str, EngineInfo]] = {}
    for family, row in rows:
        if row.name in engines:
            raise RuntimeError(f"engine {row.name!r} is declared twice: in rnn_ref/adapters/{engines[row.name][0]}/ "
                               f"and in rnn_ref/adapters/{family}/")
        engines[row.name] = (family, row)
    return {name: row for name, (_, row) in engines.items()}


ENGINES: dict[str, EngineInfo] = built_in_engines()


def declared_format(family: str, declared: FileFormat) -> FileFormat:
    """A family's format with what its declaration leaves out filled in: the family's name, and
    every engine of the family where it names none."""
    rows = family_package(family).ENGINES
    hooks: dict[str, Any] = {hook: in_family(family, path) for hook in HOOKS if (path := getattr(declared, hook))}
    return dataclasses.replace(declared, family=declared.family or family,
                               engines=declared.engines or tuple(row.name for row in rows), **hooks)


@cache
def file_formats() -> tuple[FileFormat, ...]:
    """Every family's weight file formats (``FORMATS``), in ``FAMILIES`` order (no framework imported).

    A framework suffix belongs to one format; an engine has at most one format per suffix."""
    declared = [declared_format(family, declaration)
                for family in FAMILIES for declaration in getattr(family_package(family), "FORMATS", ())]
    return checked_formats(tuple(declared), ENGINES)


def checked_formats(formats: tuple[FileFormat, ...], engines: Collection[str]) -> tuple[FileFormat, ...]:
    """``formats``, each naming engines that exist, a framework suffix in one format only, and no engine
    with two formats of one suffix; RuntimeError says which declaration breaks which rule."""
    owners: dict[str, FileFormat] = {}
    seen: set[tuple[str, str]] = set()
    for fmt in formats:
        unknown = [engine for engine in fmt.engines if engine not in engines]
        if unknown:
            raise RuntimeError(f"the {fmt.suffix} format of family {fmt.family!r} names no engine of the registry: "
                               f"{', '.join(unknown)}")
        if fmt.suffix != NPZ and fmt.suffix in owners:
            raise RuntimeError(f"two file formats declare the suffix {fmt.suffix}: families "
                               f"{owners[fmt.suffix].family!r} and {fmt.family!r}")
        owners[fmt.suffix] = fmt
        for engine in fmt.engines:
            if (engine, fmt.suffix) in seen:
                raise RuntimeError(f"engine {engine!r} has two {fmt.suffix} formats")
            seen.add((engine, fmt.suffix))
    return formats


@cache
def declared_plugins() -> tuple[dict[str, Declared], tuple[PluginProblem, ...]]:
    """Plug-in engines as the installed distributions' metadata declares them, without importing any.

    The usable declarations by name, and the problems metadata alone shows (a name taken by a
    built-in or by two distributions). Read once per process; ``refresh_plugins()`` reads again.
    """
    usable, problems = declared(ENGINES)
    return usable, tuple(problems)


@cache
def loaded_plugin(name: str) -> Plugin | PluginProblem:
    """Plug-in ``name`` (a key of ``declared_plugins()[0]``) imported: once per process, bounded in time."""
    declaration = declared_plugins()[0][name]
    return load_entry_point(declaration.entry_point, declaration.distribution)


def plugin_info(plugin: Plugin) -> EngineInfo:
    """The registry entry of a loaded plug-in: it ``requires`` the top-level package of its module."""
    return EngineInfo(plugin.name, plugin.value, plugin.value.split(":")[0].split(".")[0], plugin.description,
                      plugin.distribution)


def plugin_registry() -> tuple[dict[str, EngineInfo], dict[str, type], tuple[PluginProblem, ...]]:
    """Every plug-in engine imported: their entries, their adapter classes, and the problems.

    This imports every declared plug-in (``rnn-ref engines``, ``check`` without ``--engines``,
    ``--engines installed``); a lookup of one name imports that plug-in alone.
    """
    usable, problems = declared_plugins()
    outcomes = [loaded_plugin(name) for name in usable]
    loaded = [outcome for outcome in outcomes if isinstance(outcome, Plugin)]
    failed = [outcome for outcome in outcomes if isinstance(outcome, PluginProblem)]
    return ({plugin.name: plugin_info(plugin) for plugin in loaded},
            {plugin.name: plugin.adapter_class for plugin in loaded},
            tuple(sorted([*problems, *failed], key=lambda problem: problem.name)))


def refresh_plugins() -> None:
    """Forget what was discovered and loaded, so the next lookup sees newly installed plug-ins."""
    declared_plugins.cache_clear()
    loaded_plugin.cache_clear()
    adapter_object.cache_clear()


def registry() -> dict[str, EngineInfo]:
    """Every engine that can be used: the built-ins (``ENGINES``), then the plug-ins that load (imports them all)."""
    return ENGINES | plugin_registry()[0]


def plugin_problems() -> list[PluginProblem]:
    """Plug-in engines that are declared but cannot be used, each with its reason (imports them all)."""
    return list(plugin_registry()[2])


def engine_names() -> list[str]:
    """Every engine name: built-ins in registry order, then the declared plug-ins by name.

    Read from metadata: no plug-in is imported, so a plug-in named here may still fail to load
    (``engine_info`` then says why; ``registry()`` holds only those that load).
    """
    return [*ENGINES, *declared_plugins()[0]]


def engine_info(name: str) -> EngineInfo:
    """The registry entry of ``name``; an unknown or broken name raises ValueError saying why.

    Of the plug-ins, only ``name``'s is imported.
    """
    if name in ENGINES:
        return ENGINES[name]
    usable, problems = declared_plugins()
    if name in usable:
        outcome = loaded_plugin(name)
        if isinstance(outcome, PluginProblem):
            raise ValueError(outcome.describe())
        return plugin_info(outcome)
    broken = [problem.describe() for problem in problems if problem.name == name]
    if broken:
        raise ValueError("; ".join(broken))
    unusable = "".join(f"; {problem.describe()}" for problem in problems)
    raise ValueError(f"unknown engine {name!r}; known engines: {', '.join(engine_names())}{unusable}")


def installed_engines() -> list[str]:
    """Names of the engines whose framework is importable here (imports every plug-in)."""
    return [name for name, info in registry().items() if info.installed()]


def unique_engine_names(text: str) -> list[str]:
    """``"keras, torch,keras"`` as ``["keras", "torch"]``: comma-separated names, stripped, each once, in order.

    A list that names no engine (``""``, ``","``, ``" , "``) raises ValueError: where such a value
    comes from an unset variable (``--engines "$ENGINE"``), running nothing would pass silently.
    """
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ValueError(f"--engines names no engine ({text!r})")
    return names


@cache
def adapter_object(name: str) -> Any:
    """The adapter of engine ``name`` without its framework: enough for ``mapping`` and limits.

    Adapter modules import their framework inside methods, so this works on NumPy alone.
    """
    info = engine_info(name)
    if name not in ENGINES:  # a plug-in never shadows a built-in (declared refuses the clash)
        plugin = loaded_plugin(name)
        assert isinstance(plugin, Plugin)  # engine_info raised otherwise
        return plugin.adapter_class()
    module_name, class_name = info.adapter.split(":")
    return getattr(importlib.import_module(module_name), class_name)()


class AdapterCallError(ParamsError):
    """A plug-in's adapter method raised where rnn_ref asked it about a layer (its rows, its limits).

    A ParamsError, so ``map``, ``convert`` and ``record`` report it as they report weights that
    cannot be mapped: one line, exit 2, naming the engine, its distribution, the method, what
    it raised and where.
    """


def adapter_call(engine: str, method: str, *args: Any, seconds: float | None = None) -> Any:
    """``adapter_object(engine).method(*args)``; a plug-in that raises gives AdapterCallError.

    A plug-in's call is bounded like a case (``seconds``; None: ``deadline.case_seconds()``): one that blocks, or
    exits, is an AdapterCallError too, naming it. A built-in adapter that raises is a bug of
    rnn_ref, which its own tests catch: its exception is left as it is.
    """
    adapter = adapter_object(engine)
    if engine in ENGINES:
        return getattr(adapter, method)(*args)
    plugin = f"plug-in engine {engine!r} (from {engine_info(engine).distribution})"
    try:
        seconds = case_seconds() if seconds is None else seconds
    except ValueError as error:
        raise AdapterCallError(str(error)) from None
    try:
        return within(seconds, f"{plugin}: {method}()", getattr(adapter, method), *args)
    except (DeadlineExceeded, CalledCodeExited) as error:
        raise AdapterCallError(str(error)) from None
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise AdapterCallError(f"{plugin}: {method}() raised {one_line(error)} "
                               f"(at {Path(where.filename).name}:{where.lineno}, in {where.name})") from error


def plugin_preflight(engine: str, seconds: float | None = None) -> None:
    """Ask plug-in ``engine`` what every command asks before it runs a case, so that a method that
    raises is an AdapterCallError naming it rather than a traceback from deep inside a command:
    ``unsupported_reason`` and ``known_defect`` of every case, ``mapping`` of every layer it accepts.
    Built-in engines are skipped (their tests cover this). About 1,300 calls of cheap methods."""
    if engine in ENGINES:
        return
    from rnn_ref.cases.matrix import all_cases

    accepted = set()
    for case in all_cases():
        conditions = (case.spec, case.dtype, case.with_lengths)
        if adapter_call(engine, "unsupported_reason", *conditions, seconds=seconds) is None:
            adapter_call(engine, "known_defect", *conditions, seconds=seconds)
            accepted.add(case.spec)
    for spec in accepted:
        adapter_call(engine, "mapping", spec, seconds=seconds)


def load_adapter(name: str) -> Any:
    """The adapter of engine ``name``, ready to build and run: its framework must be installed."""
    info = engine_info(name)
    reason = info.unavailable_reason()
    if reason is not None:
        raise ValueError(
            f"engine {name!r} cannot run here: {reason} (pip install 'rnn-ref[{info.requires}]' "
            f"or use its tox env: tox -e {info.requires})"
        )
    return adapter_object(name)
