"""Module paths that moved in 0.2 (issue 23) and stay importable, with a DeprecationWarning.

Third-party adapters written against 0.1 import ``rnn_ref.spec``, ``rnn_ref.params``,
``rnn_ref.mapping``, ``rnn_ref.reference``, ``rnn_ref.errors`` and ``rnn_ref.adapters.base``.
Each of those is now a face over the modules that hold the code: importing it warns once,
and every name it had resolves to the same object as before.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def deprecated_face(old: str, new: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the face ``old``: names come from the ``new`` modules, in order.

    Warns once, at the import of the face (the caller calls ``warn_moved`` at module level).
    """

    def __getattr__(name: str) -> Any:
        for module_name in new:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__


def warn_moved(old: str, new: tuple[str, ...]) -> None:
    """The DeprecationWarning of importing ``old``; ``stacklevel`` points at the importing line."""
    warnings.warn(f"{old} is deprecated since rnn-ref 0.2: import from {' or '.join(new)} "
                  f"(or from rnn_ref / rnn_ref.adapters)", DeprecationWarning, stacklevel=3)
