"""The PyTorch family: the fused ``torch.nn.RNN/LSTM/GRU`` and the unrolled cells.

``ENGINES`` are the family's registry rows, ``FORMATS`` its weight file (``files.py``);
importing this package imports no torch.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("torch", "rnn_ref.adapters.torch.fused:TorchAdapter", "torch",
               "torch.nn.RNN / LSTM / GRU (fused; oneDNN for float32 on CPU)"),
    EngineInfo("torch-cell", "rnn_ref.adapters.torch.cells:TorchCellAdapter", "torch",
               "torch.nn.RNNCell / LSTMCell / GRUCell unrolled by the adapter"),
)

FORMATS = (
    FileFormat(".pt", "torch", tuple(row.name for row in ENGINES), described="state_dicts (.pt)",
               package="torch", extra="torch", reader="rnn_ref.adapters.torch.files:read_torch_pt",
               writer="rnn_ref.adapters.torch.files:pt_writer"),
)
