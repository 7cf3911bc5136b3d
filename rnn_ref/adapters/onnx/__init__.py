"""The ONNX family: RNN / LSTM / GRU nodes built from the rows, run by onnxruntime or onnx.reference.

It also owns the ``.onnx`` file format (``FORMATS``: ``files.py`` reads and writes it,
``protos.py`` decodes its messages, ``glue.py`` proves the glue around the nodes, ``formats.py``
runs the file for ``--verify``). ``ENGINES`` are the family's registry rows; importing this
package imports no onnx.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("onnx", "rnn_ref.adapters.onnx.runtime:OnnxRuntimeAdapter", "onnx",
               "ONNX RNN / LSTM / GRU nodes built from the rows, run on onnxruntime's CPU provider",
               packages=("onnx", "onnxruntime")),
    EngineInfo("onnx-reference", "rnn_ref.adapters.onnx.reference:OnnxReferenceAdapter", "onnx",
               "the same ONNX model run by onnx.reference.ReferenceEvaluator (ONNX's NumPy reference)",
               packages=("onnx",)),
)

FORMATS = (
    FileFormat(".onnx", "onnx", tuple(row.name for row in ENGINES), described="ONNX models (.onnx)", package="onnx",
               extra="onnx", reader="rnn_ref.adapters.onnx.files:read_onnx_weights",
               writer="rnn_ref.adapters.onnx.formats:onnx_writer", program="rnn_ref.adapters.onnx.formats:OnnxProgram",
               named=False),
)
