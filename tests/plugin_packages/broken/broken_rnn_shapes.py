"""Plug-in objects that import fine but are not usable adapters."""

from rnn_ref.adapters import Adapter


class Misnamed(Adapter):
    """Declared as 'misnamed' but calls itself something else."""

    name = "something-else"


class HalfDone(Adapter):
    """Declares its name and nothing else."""

    name = "half-done"


NotAnAdapter = object()
