"""The MXNet Gluon 1.9.1 family: the fused ``mx.gluon.rnn`` layers and the unrolled cells.

``ENGINES`` are the family's registry rows; importing this package imports no MXNet.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("gluon", "rnn_ref.adapters.mxnet.fused:GluonAdapter", "mxnet",
               "MXNet Gluon 1.9.1 fused mx.gluon.rnn.RNN / LSTM / GRU"),
    EngineInfo("gluon-cell", "rnn_ref.adapters.mxnet.cells:GluonCellAdapter", "mxnet",
               "MXNet Gluon 1.9.1 RNNCell / LSTMCell / GRUCell in SequentialRNNCell, unrolled"),
)
