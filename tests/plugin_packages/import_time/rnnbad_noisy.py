"""A usable plug-in (the example engine, renamed) that prints to stdout and stderr at import,
through Python's streams and straight to the file descriptors (as a C library's banner would)."""

import os
import sys

from numpy_lstm_adapter.adapter import NumpyLSTMAdapter

print("HELLO-FROM-PLUGIN-IMPORT")
print("HELLO-ON-STDERR", file=sys.stderr)
os.write(1, b"HELLO-THROUGH-DESCRIPTOR-1\n")
os.write(2, b"HELLO-THROUGH-DESCRIPTOR-2\n")


class NoisyAdapter(NumpyLSTMAdapter):
    """numpy-lstm under another name, from a module that prints when imported."""

    name = "noisy-lstm"
