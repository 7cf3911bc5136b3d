"""The PyTorch family: the fused ``torch.nn.RNN/LSTM/GRU`` and the unrolled cells.

``ENGINES`` are the family's registry rows; ``FORMATS`` its weight file, the ``.pt`` state_dict
(``files.py`` reads it with ``weights_only=True``: a weight file never runs code). Importing this
package imports no torch.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("torch", "fused:TorchAdapter", "torch", "torch.nn.RNN / LSTM / GRU (fused; oneDNN for float32 on CPU)"),
    EngineInfo("torch-cell", "cells:TorchCellAdapter", "torch",
               "torch.nn.RNNCell / LSTMCell / GRUCell unrolled by the adapter"),
)

FORMATS = (
    FileFormat(".pt", described="state_dicts (.pt)", package="torch", extra="torch", reader="files:read_torch_pt",
               writer="files:pt_writer", inspector="inspection:inspect_pt", names_inspector="inspection:inspect_names",
               extractor="inspection:extract_pt", injector="inspection:inject_pt"),
)
