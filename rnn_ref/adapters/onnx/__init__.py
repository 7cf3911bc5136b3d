"""The ONNX family: RNN / LSTM / GRU nodes built from the rows, run by onnxruntime, onnx.reference or OpenVINO.

It also owns the ``.onnx`` file format (``FORMATS``: ``files.py`` reads and writes it,
``protos.py`` decodes its messages, ``glue.py`` proves the glue around the nodes, ``formats.py``
runs the file for ``--verify``). ``ENGINES`` are the family's registry rows; importing this
package imports no onnx.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("onnx", "runtime:OnnxRuntimeAdapter", "onnx",
               "ONNX RNN / LSTM / GRU nodes built from the rows, run on onnxruntime's CPU provider",
               packages=("onnx", "onnxruntime")),
    EngineInfo("onnx-reference", "reference:OnnxReferenceAdapter", "onnx",
               "the same ONNX model run by onnx.reference.ReferenceEvaluator (ONNX's NumPy reference)",
               packages=("onnx",)),
    EngineInfo("openvino", "openvino:OpenVinoAdapter", "openvino",
               "the same ONNX model compiled by OpenVINO's CPU plugin at static shapes (f32 precision hint)",
               packages=("openvino", "onnx")),
    EngineInfo("openvino-dynamic", "openvino:OpenVinoDynamicAdapter", "openvino",
               "the same ONNX model compiled by OpenVINO's CPU plugin with its dynamic dims (f32 precision hint)",
               packages=("openvino", "onnx")),
)

FORMATS = (
    FileFormat(".onnx", described="ONNX models (.onnx)", package="onnx", extra="onnx", reader="files:read_onnx_weights",
               writer="formats:onnx_writer", program="formats:OnnxProgram", named=False,
               inspector="inspection:inspect_onnx", extractor="inspection:extract_onnx"),
)
