"""A usable plug-in (the example engine, renamed) that prints to stdout and stderr at import."""

import sys

from numpy_lstm_adapter.adapter import NumpyLSTMAdapter

print("HELLO-FROM-PLUGIN-IMPORT")
print("HELLO-ON-STDERR", file=sys.stderr)


class NoisyAdapter(NumpyLSTMAdapter):
    """numpy-lstm under another name, from a module that prints when imported."""

    name = "noisy-lstm"
