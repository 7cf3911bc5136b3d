"""Plug-ins that load, but one of whose methods never returns: ``mapping``, ``version`` or ``run``
(each waits on an event no one sets, so a test that abandons it leaves a thread that only waits)."""

import threading

from numpy_lstm_adapter.adapter import NumpyLSTMAdapter

NEVER = threading.Event()


class MappingBlocks(NumpyLSTMAdapter):
    """numpy-lstm whose mapping() never returns."""

    name = "mapping-blocks"

    def mapping(self, spec):
        NEVER.wait()


class VersionBlocks(NumpyLSTMAdapter):
    """numpy-lstm whose version() never returns."""

    name = "version-blocks"

    def version(self):
        NEVER.wait()
