"""The contract types, on NumPy alone: what a layer is and what its weights, states and files are.

``RNNSpec`` (mode, sizes, layers, direction, layout), canonical ``Params`` (one block per gate),
``State`` / ``RNNOutput``, the declarative weight mapping (``MappingRow``, ``WeightMapping``),
the one tolerance table (``compare``), bounded reading of weight files, the errors every
command reports in one line, and the time bounds of calls into code rnn_ref does not control.
Nothing here knows which engines exist.
"""
