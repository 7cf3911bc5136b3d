"""The ONNX family: RNN / LSTM / GRU nodes built from the rows, run by onnxruntime or onnx.reference.

It also owns the ``.onnx`` file format (``files.py``, ``glue.py``). ``ENGINES`` are the
family's registry rows; importing this package imports no onnx.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("onnx", "rnn_ref.adapters.onnx.runtime:OnnxRuntimeAdapter", "onnx",
               "ONNX RNN / LSTM / GRU nodes built from the rows, run on onnxruntime's CPU provider",
               packages=("onnx", "onnxruntime")),
    EngineInfo("onnx-reference", "rnn_ref.adapters.onnx.reference:OnnxReferenceAdapter", "onnx",
               "the same ONNX model run by onnx.reference.ReferenceEvaluator (ONNX's NumPy reference)",
               packages=("onnx",)),
)
