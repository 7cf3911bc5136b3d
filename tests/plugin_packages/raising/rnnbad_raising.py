"""Plug-ins that load, but whose methods about a layer raise: ``mapping`` and ``unsupported_reason``."""

from numpy_lstm_adapter.adapter import NumpyLSTMAdapter


class MappingRaises(NumpyLSTMAdapter):
    """numpy-lstm whose mapping() raises."""

    name = "bad-mapping"

    def mapping(self, spec):
        raise RuntimeError("mapping exploded")


class ReasonRaises(NumpyLSTMAdapter):
    """numpy-lstm whose unsupported_reason() raises."""

    name = "bad-reason"

    def unsupported_reason(self, spec, dtype, with_lengths):
        raise TypeError("reason exploded")
