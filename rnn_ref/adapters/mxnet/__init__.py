"""The MXNet Gluon 1.9.1 family: the fused ``mx.gluon.rnn`` layers and the unrolled cells.

``ENGINES`` are the family's registry rows, ``FORMATS`` its weight file (``files.py``);
importing this package imports no MXNet.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("gluon", "fused:GluonAdapter", "mxnet", "MXNet Gluon 1.9.1 fused mx.gluon.rnn.RNN / LSTM / GRU"),
    EngineInfo("gluon-cell", "cells:GluonCellAdapter", "mxnet",
               "MXNet Gluon 1.9.1 RNNCell / LSTMCell / GRUCell in SequentialRNNCell, unrolled"),
)

FORMATS = (
    FileFormat(".params", described="Gluon .params files", package="mxnet", extra="mxnet",
               reader="files:read_gluon_params", writer="files:params_writer", loader="files:load_through_gluon",
               size_names="files:gluon_structural_name", named=False, through_engine=True,
               inspector="inspection:inspect_params", names_inspector="inspection:inspect_names",
               extractor="inspection:extract_params", injector="inspection:inject_params"),
)
