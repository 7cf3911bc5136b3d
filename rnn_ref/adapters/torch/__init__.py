"""The PyTorch family: the fused ``torch.nn.RNN/LSTM/GRU`` and the unrolled cells.

``ENGINES`` are the family's registry rows; importing this package imports no torch.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("torch", "rnn_ref.adapters.torch.fused:TorchAdapter", "torch",
               "torch.nn.RNN / LSTM / GRU (fused; oneDNN for float32 on CPU)"),
    EngineInfo("torch-cell", "rnn_ref.adapters.torch.cells:TorchCellAdapter", "torch",
               "torch.nn.RNNCell / LSTMCell / GRUCell unrolled by the adapter"),
)
