"""The PaddlePaddle family: the fused ``paddle.nn.SimpleRNN / LSTM / GRU`` (engine ``paddle``).

``ENGINES`` is the family's registry row. Importing this package imports no paddle.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("paddle", "fused:PaddleAdapter", "paddle",
               "paddle.nn.SimpleRNN / LSTM / GRU (fused; PaddlePaddle's CPU kernel)"),
)
