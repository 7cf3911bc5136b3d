"""The example engine with one mistake: its LSTM mapping rows swap the gates o and i.

The library stores LSTM gates ``o i f g``; this adapter says ``i o f g``. Everything else is
the correct adapter, so the suite must fail exactly the LSTM cases, on the output.
"""

from numpy_lstm_adapter.adapter import GATE_ORDER, NumpyLSTMAdapter


class SwappedGatesAdapter(NumpyLSTMAdapter):
    """numpy-lstm with the LSTM gates o and i swapped (deliberately wrong)."""

    name = "numpy-lstm-swapped"
    gate_order = GATE_ORDER | {"lstm": ("i", "o", "f", "g")}
