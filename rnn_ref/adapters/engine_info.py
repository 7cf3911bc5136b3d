"""``EngineInfo``: one registry row, what an engine is and what it needs to run here.

Each engine family declares its rows in its package's ``__init__`` (``rnn_ref/adapters/torch/``,
``keras/``, ...); ``rnn_ref.adapters.engine_registry`` collects them. A row needs NumPy alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass


def in_family(family: str, path: str) -> str:
    """A family's ``"module:name"`` (``"fused:TorchAdapter"``, relative to ``rnn_ref/adapters/<family>/``)
    as the full path (``"rnn_ref.adapters.torch.fused:TorchAdapter"``); a path of rnn_ref's own
    (``"rnn_ref.…"``) stays as it is."""
    return path if path.startswith("rnn_ref.") else f"rnn_ref.adapters.{family}.{path}"


@dataclass(frozen=True)
class EngineInfo:
    """One engine: its name, the adapter class (``module:Class``) and what it needs.

    ``requires`` names the extra (``pip install 'rnn-ref[X]'``) and the tox env of the
    engine, and is the package it imports unless ``packages`` lists them. ``converts_from``
    names the source engine of a converted engine (its layer, taken through a conversion tool
    and run elsewhere: rnn_ref/adapters/converted/), "" for any other. ``condition``, when
    set, is asked after the packages are found: why the engine still cannot run in this process
    (a Keras engine whose backend is not the one Keras runs here), or None.
    """

    name: str
    adapter: str
    requires: str
    description: str
    #: the distribution a plug-in engine comes from ("numpy-lstm-adapter 0.1.0"); "" for a built-in
    distribution: str = ""
    packages: tuple[str, ...] = ()
    condition: Callable[[], str | None] | None = None
    #: the engine whose layer this engine converts ("torch" for torch.onnx.export's); "" for a direct engine
    converts_from: str = ""

    def unavailable_reason(self) -> str | None:
        """Why this engine cannot run here (a package missing, the family's condition), or None."""
        missing = [name for name in self.packages or (self.requires,) if importlib.util.find_spec(name) is None]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            return f"{' and '.join(repr(name) for name in missing)} {verb} not installed"
        return None if self.condition is None else self.condition()

    def installed(self) -> bool:
        """True when the engine can run here: its packages import and the family's condition holds."""
        return self.unavailable_reason() is None
