"""What a file format is: the declaration an engine family makes of a weight file it reads and writes.

A family lists its formats in ``FORMATS`` beside ``ENGINES`` (``rnn_ref/adapters/<family>/__init__.py``);
``engine_registry.file_formats()`` collects them. The generic pipeline (``rnn_ref/conversion/``)
reads these declarations instead of knowing suffixes or engine names: which suffixes an
engine's files may have, which framework a format needs, how its arrays are read (and named),
how it is written, and whether the file is a program ``--verify`` runs itself.

A format's functions are named ``"module:function"`` and imported only when used, so the
declarations, like the registry, need NumPy alone. Two kinds of format exist:

* an ``.npz`` flavour (``suffix == NPZ``, no ``reader`` nor ``writer``): rnn_ref reads and
  writes the container itself (never unpickling, headers checked before data); the family
  only says how its arrays are keyed (``positional``: ``arr_0 ... arr_k`` in the rows'
  order). An engine without one has the named ``.npz`` (keys are its native names).
* a framework format (``.pt``, ``.params``, ...): ``reader(path, spec)`` returns the file's
  arrays by the names the file uses (or only their ``Shapes``, when the data is read later by
  the framework itself); ``loader(engine, spec, path, arrays, native_shapes)`` turns what the
  reader found into the native arrays where the framework's own layer must read the file;
  ``writer(engine, path, params, native)`` returns ``write(target_name)``.

For ``rnn-ref inspect``, ``inspector(path)`` lists every recurrent layer of a whole model file
of the format (``rnn_ref/core/inspection.py``'s ``FoundLayer``), reading names and shapes only
and never running code from the file; ``names_inspector(shapes)`` recognises the family's
layers among named arrays, which ``inspect`` applies to an ``.npz``. A format with an
inspector and neither reader nor writer (``converts`` false) is one ``convert`` does not take
whole, but its ``extractor(path, layer)`` may hand ``convert --layer`` one layer's arrays out of
it, keyed as the family's ``.npz`` (positional ``arr_i`` where that .npz is positional), and
its ``injector(path, layer, arrays)`` write such arrays into one layer of an existing model
file (``convert`` onto a user's own model), every other part of the file kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

#: rnn_ref's own container, whose reading and writing is generic (rnn_ref/core/files.py)
NPZ = ".npz"


#: a format's functions, each ``"module:function"``; a family may name them relative to its package ("files:read")
HOOKS = ("reader", "writer", "loader", "size_names", "program", "inspector", "names_inspector", "extractor", "injector")


@dataclass(frozen=True)
class FileFormat:
    """One weight file format of an engine family (see the module's docstring for the hooks' signatures)."""

    suffix: str  # what a file name ends with: ".pt", ".weights.h5", ".npz"
    #: the family that declares it, as messages name it ("": the declaring package's, filled in by file_formats())
    family: str = ""
    #: the engines whose weights it holds, in the order they are tried (empty: every engine of the family)
    engines: tuple[str, ...] = ()
    described: str = ""  # how a message lists files of this format ("state_dicts (.pt)")
    package: str | None = None  # the framework package it needs (None: NumPy alone)
    extra: str | None = None  # the extra and tox env that install that package
    reader: str | None = None  # "module:function" (path, spec) -> arrays by the file's names, or Shapes
    writer: str | None = None  # "module:function" (engine, path, params, native arrays) -> write(target)
    loader: str | None = None  # "module:function" (engine, spec, path, arrays, native shapes) -> native arrays
    size_names: str | None = None  # "module:function" file's name -> the rows' name, to read sizes off shapes
    program: str | None = None  # "module:function" (path, spec) -> FileProgram: the file runs itself (--verify)
    named: bool = True  # its arrays are named parameters (--prefix selects them)
    positional: str | None = None  # its arrays are arr_0 ... arr_k in this order of the rows ("get_weights")
    through_engine: bool = False  # read and written through the engine's own layer: the engine must run here
    #: "module:function" (path) -> [FoundLayer]: every recurrent layer of a file of this format (``rnn-ref inspect``)
    inspector: str | None = None
    #: "module:function" (shapes by name) -> [FoundLayer]: the family's layers among named arrays (an .npz of them)
    names_inspector: str | None = None
    #: "module:function" (path, FoundLayer) -> the arrays of that one layer of a whole model file, keyed as
    #: the family's ``.npz`` of them (``convert --layer``: the layer is then converted as that .npz)
    extractor: str | None = None
    #: "module:function" (path, FoundLayer, arrays keyed as the family's .npz) -> write(target): the model file
    #: at path with that one layer's arrays replaced, everything else kept, shapes checked before it returns
    injector: str | None = None

    @property
    def converts(self) -> bool:
        """Whether ``convert`` reads or writes this format (a format may be declared for ``inspect`` alone)."""
        return self.suffix == NPZ or self.reader is not None or self.writer is not None

    def call(self, hook: str, *args: Any) -> Any:
        """Run one of this format's functions (``self.reader`` ...), importing its module now."""
        return resolve(hook)(*args)


def resolve(hook: str) -> Callable[..., Any]:
    module, name = hook.split(":")
    return getattr(importlib.import_module(module), name)


class Shapes(dict):
    """Array names and shapes of a file read without its data (its framework reads the data
    later, once every shape was checked against the declared layer), and its dtype."""

    dtype: np.dtype = np.dtype(np.float32)


Runner = Callable[[np.ndarray, Any, Any], Any]  # (x, initial State or None, lengths or None) -> RNNOutput


class FileProgram(Protocol):
    """A file that is a program, not only weights (an ``.onnx`` graph), as ``--verify`` runs it itself."""

    steps: int | None  # the T its input fixes, or None
    batch: int | None  # the N its input fixes, or None
    takes_input_only: str  # why it runs zero states and full lengths only: it takes X alone

    def cannot_run(self, engine: str) -> str | None:
        """Why ``engine`` (one of the format's engines) cannot run this file, or None."""

    def runner(self, spec: Any, adapter: Any) -> Runner:
        """The file run on ``adapter``'s runtime: canonical inputs in, canonical RNNOutput out."""

    def detail(self) -> str:
        """What the verification header says about the file (its opset, input, outputs)."""
