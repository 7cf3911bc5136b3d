"""`rnn-ref inspect` on real model files, made here by each framework the way its users write models.

Each test runs where its family's engine is selected (its tox env: torch, tensorflow, mxnet,
onnx, flax) and skips elsewhere, saying how to select it. The expected specs are the models'
own constructor arguments (an ``nn.LSTM(8, 16, num_layers=2, bidirectional=True)`` is an LSTM
of I=8, H=16, 2 layers, bidirectional); nothing is typed from a previous run.
"""

from __future__ import annotations

import json

import pytest

from rnn_ref.cli import main

pytestmark = pytest.mark.engine

SPEC_KEYS = ("mode", "input_size", "hidden_size", "num_layers", "bidirectional", "proj_size", "gru_variant", "bias")


def inspected(path, capsys):
    """(the JSON list, the table) that inspect prints for ``path``."""
    capsys.readouterr()  # what the framework printed while it made the file (torch.onnx.export's progress)
    assert main(["inspect", "--format", "json", str(path)]) == 0, capsys.readouterr().err
    found = json.loads(capsys.readouterr().out)
    assert main(["inspect", str(path)]) == 0
    return found, capsys.readouterr().out


def spec(item):
    return tuple(item[key] for key in SPEC_KEYS)


def refused(path, capsys, words):
    assert main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and words in lines[0], captured.err


# ----------------------------------------------------------------------------- torch
def make_torch_tagger():
    """The tagger of the user-migrations study: embedding, 2-layer bidirectional LSTM, linear head."""
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(32, 3)

        def forward(self, x):
            return self.fc(self.lstm(self.emb(x))[0])

    torch.manual_seed(0)
    return Tagger().eval()


@pytest.fixture
def torch_tagger(engine_or_skip):
    engine_or_skip("torch")
    return make_torch_tagger()


LSTM_8_16_2_BI = ("lstm", 8, 16, 2, True, 0, None, True)


def test_torch_tagger_state_dict_and_checkpoint(torch_tagger, tmp_path, capsys):
    import torch

    torch.save(torch_tagger.state_dict(), tmp_path / "model.pt")
    found, table = inspected(tmp_path / "model.pt", capsys)
    assert [(f["location"], spec(f), f["undetermined"]) for f in found] == [("lstm", LSTM_8_16_2_BI, [])]
    assert "lstm" in table and "1 recurrent layer" in table
    optimizer = torch.optim.Adam(torch_tagger.parameters())
    torch.save({"model": torch_tagger.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
               tmp_path / "checkpoint.pt")
    found, _ = inspected(tmp_path / "checkpoint.pt", capsys)
    assert [(f["location"], spec(f)) for f in found] == [("model.lstm", LSTM_8_16_2_BI)]


def test_torch_seq2seq_lists_the_encoder_and_the_decoder(engine_or_skip, tmp_path, capsys):
    engine_or_skip("torch")
    import torch
    from torch import nn

    model = nn.Module()
    model.encoder, model.decoder = nn.Module(), nn.Module()
    model.encoder.lstm = nn.LSTM(8, 16, num_layers=2)
    model.decoder.lstm = nn.LSTM(8, 16, proj_size=4)
    model.decoder.rnn = nn.RNN(4, 5, nonlinearity="relu", bias=False)
    torch.save(model.state_dict(), tmp_path / "s2s.pt")
    found, table = inspected(tmp_path / "s2s.pt", capsys)
    by_location = {f["location"]: f for f in found}
    assert sorted(by_location) == ["decoder.lstm", "decoder.rnn", "encoder.lstm"]
    assert spec(by_location["encoder.lstm"]) == ("lstm", 8, 16, 2, False, 0, None, True)
    assert spec(by_location["decoder.lstm"]) == ("lstm", 8, 16, 1, False, 4, None, True)
    assert spec(by_location["decoder.rnn"]) == (None, 4, 5, 1, False, 0, None, False)
    assert [(o["field"], o["flag"]) for o in by_location["decoder.rnn"]["undetermined"]] == [("mode", "--mode")]
    assert "decoder.rnn: undetermined mode: --mode rnn_tanh|rnn_relu" in table
    # convert --layer takes each one by its location, its spec read off the file: the plain torch loader takes it
    for location, layer in (("encoder.lstm", nn.LSTM(8, 16, num_layers=2)), ("decoder.lstm", nn.LSTM(8, 16, proj_size=4))):
        assert main(["convert", "--from", "torch", "--to", "torch", "--layer", location, str(tmp_path / "s2s.pt"),
                     str(tmp_path / f"{location}.pt")]) == 0
        layer.load_state_dict(torch.load(tmp_path / f"{location}.pt", weights_only=True))  # strict: every name
        original = model.get_submodule(location).state_dict()
        assert all(torch.equal(value, original[name]) for name, value in layer.state_dict().items())


def test_torch_files_without_a_layer_or_with_code_are_refused(engine_or_skip, tmp_path, capsys):
    engine_or_skip("torch")
    from fractions import Fraction

    import torch

    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "linear.pt")
    refused(tmp_path / "linear.pt", capsys, "no recurrent layer")
    torch.save({"weight_ih_l0": Fraction(1, 3)}, tmp_path / "evil.pt")  # a type weights_only will not build
    refused(tmp_path / "evil.pt", capsys, "weights_only=True")


# ----------------------------------------------------------------------------- Keras
@pytest.fixture
def keras(engine_or_skip):
    engine_or_skip("keras")
    import keras

    return keras


def save_both(model, folder, name):
    model.save(folder / f"{name}.keras")
    model.save_weights(folder / f"{name}.weights.h5")
    return folder / f"{name}.keras", folder / f"{name}.weights.h5"


def test_keras_sequential_tagger_and_lstm_stack(keras, tmp_path, capsys):
    from keras import layers

    tagger = keras.Sequential([keras.Input((None,), dtype="int32"), layers.Embedding(50, 8),
                               layers.Bidirectional(layers.LSTM(16, return_sequences=True), name="bi0"),
                               layers.Bidirectional(layers.LSTM(16, return_sequences=True), name="bi1"),
                               layers.Dense(3)])
    stack = keras.Sequential([keras.Input((None, 6)), layers.LSTM(12, return_sequences=True, name="l0"),
                              layers.LSTM(12, name="l1")])
    for model, name, expected in ((tagger, "tagger", LSTM_8_16_2_BI), (stack, "stack",
                                                                          ("lstm", 6, 12, 2, False, 0, None, True))):
        whole, weights = save_both(model, tmp_path, name)
        found, _ = inspected(whole, capsys)
        location = "bi0+bi1" if name == "tagger" else "l0+l1"
        assert [(f["location"], spec(f), f["undetermined"]) for f in found] == [(location, expected, [])]
        found, table = inspected(weights, capsys)  # no graph: the stack is read off the sizes, and says so
        assert [(f["location"], spec(f)) for f in found] == [(location, expected)]
        assert [o["field"] for o in found[0]["undetermined"]] == ["num_layers"]
        assert f"{location}: undetermined num_layers: --layers" in table


def test_keras_functional_config_settles_what_the_weights_leave_open(keras, tmp_path, capsys):
    from keras import layers

    x = keras.Input((None, 5))
    h = layers.GRU(7, reset_after=False, use_bias=False, return_sequences=True, name="enc")(x)
    h = layers.Dense(4)(h)
    h = layers.SimpleRNN(3, activation="relu", return_sequences=True, name="dec")(h)
    h = layers.RNN(layers.StackedRNNCells([layers.LSTMCell(4), layers.LSTMCell(4)]), name="cells")(h)
    whole, weights = save_both(keras.Model(x, h), tmp_path, "functional")
    found, _ = inspected(whole, capsys)
    assert [(f["location"], spec(f), f["undetermined"]) for f in found] == [
        ("enc", ("gru", 5, 7, 1, False, 0, "reset_before", False), []),
        ("dec", ("rnn_relu", 4, 3, 1, False, 0, None, True), []),
        ("cells", ("lstm", 3, 4, 2, False, 0, None, True), [])]
    found, _ = inspected(weights, capsys)
    by_location = {f["location"]: f for f in found}
    assert [(o["field"], o["flag"]) for o in by_location["enc"]["undetermined"]] == [("gru_variant", "--gru-variant")]
    assert [(o["field"], o["flag"]) for o in by_location["dec"]["undetermined"]] == [("mode", "--mode")]
    assert spec(by_location["cells"]) == ("lstm", 3, 4, 2, False, 0, None, True)


def test_keras_subclassed_model_and_a_truncated_keras_file(keras, tmp_path, capsys):
    from keras import layers

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = layers.LSTM(9, return_sequences=True, name="encoder")
            self.head = layers.Dense(2)

        def call(self, x):
            return self.head(self.encoder(x))

    model = Model()
    model(keras.ops.zeros((1, 4, 3)))
    whole, weights = save_both(model, tmp_path, "sub")
    for path in (whole, weights):
        found, _ = inspected(path, capsys)
        assert [(f["location"], spec(f)) for f in found] == [("encoder", ("lstm", 3, 9, 1, False, 0, None, True))]
    data = whole.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "cut.keras", capsys, "not a readable")


# ----------------------------------------------------------------------------- Gluon
def test_gluon_hybrid_block_whole_network_params(engine_or_skip, tmp_path, capsys):
    engine_or_skip("gluon")
    import mxnet as mx
    from mxnet.gluon import nn, rnn

    class Net(mx.gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.lstm = rnn.LSTM(16, num_layers=2, bidirectional=True, layout="NTC", input_size=8)
                self.relu = rnn.RNN(5, activation="relu", input_size=32)
                self.out = nn.Dense(3, flatten=False)

        def hybrid_forward(self, F, x):
            return self.out(self.relu(self.lstm(x)))

    net = Net()
    net.initialize()
    net.hybridize()
    net(mx.nd.zeros((2, 5, 8)))
    net.save_parameters(str(tmp_path / "net.params"))
    found, table = inspected(tmp_path / "net.params", capsys)
    by_location = {f["location"]: f for f in found}
    assert "relu: undetermined mode: --mode rnn_tanh|rnn_relu" in table
    assert spec(by_location["lstm"]) == LSTM_8_16_2_BI
    assert spec(by_location["relu"]) == (None, 32, 5, 1, False, 0, None, True)
    assert [o["field"] for o in by_location["relu"]["undetermined"]] == ["mode"]


# ----------------------------------------------------------------------------- ONNX
EXPORT = """
import sys, torch
from tests.test_inspect_frameworks import make_torch_tagger
tagger = make_torch_tagger()
torch.save(tagger.state_dict(), sys.argv[1] + "/tagger.pt")
torch.onnx.export(tagger, (torch.randint(0, 50, (4, 10)),), sys.argv[1] + "/model.onnx", dynamic_shapes=({0: "N", 1: "T"},))
"""


def exported_tagger(tmp_path):
    """The study's tagger exported whole by torch.onnx.export's default (dynamo, weights as external data),
    in a child process: after one dynamic-shape export of an nn.LSTM, a second one in the same process fails in
    torch 2.13 ("tracing inferred a static shape"), and other tests (a converter engine's --verify) export one first."""
    import os
    import subprocess
    import sys

    import torch

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", EXPORT, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    tagger = make_torch_tagger()
    tagger.load_state_dict(torch.load(tmp_path / "tagger.pt", weights_only=True))
    (tmp_path / "tagger.pt").unlink()
    return tagger


def test_whole_torch_onnx_export_with_external_data(engine_or_skip, tmp_path, capsys):
    engine_or_skip("onnx")
    pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript (tox -e onnx)")
    pytest.importorskip("torch", reason="torch.onnx.export needs torch (tox -e onnx)")
    import onnx

    exported_tagger(tmp_path)
    assert (tmp_path / "model.onnx.data").is_file()  # torch 2.13's default: the weights beside the model
    found, _ = inspected(tmp_path / "model.onnx", capsys)
    assert [spec(f) for f in found] == [LSTM_8_16_2_BI]
    nodes = {n.name: n.op_type for n in onnx.load(str(tmp_path / "model.onnx"), load_external_data=False).graph.node}
    assert [nodes[name] for name in found[0]["location"].split("+")] == ["LSTM", "LSTM"]


@pytest.mark.parametrize(("location", "words"), [("../outside.data", "outside the model's folder"),
                                               ("absent.data", "is not a file beside the model"),
                                               ("short.data", "lies past the end")])
def test_onnx_external_data_outside_the_models_folder_is_refused(engine_or_skip, tmp_path, capsys, location, words):
    engine_or_skip("onnx")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inside = tmp_path / "model"
    inside.mkdir()
    (tmp_path / "outside.data").write_bytes(np.zeros(8 * 3, np.float32).tobytes())
    (inside / "short.data").write_bytes(np.zeros(8, np.float32).tobytes())  # W needs 8·3 floats
    w = numpy_helper.from_array(np.zeros((1, 8, 3), np.float32), "W")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(4 * 24))):
        w.external_data.add(key=key, value=value)
    r = numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="lstm", hidden_size=2)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w, r])
    onnx.save_model(helper.make_model(graph), str(inside / "escape.onnx"))
    refused(inside / "escape.onnx", capsys, words)


# ----------------------------------------------------------------------------- Flax
def test_flax_nnx_state_msgpack(engine_or_skip, tmp_path, capsys):
    engine_or_skip("flax")
    from flax import nnx, serialization

    class Tagger(nnx.Module):
        def __init__(self, rngs):
            self.emb = nnx.Embed(50, 8, rngs=rngs)
            self.layers = nnx.List([nnx.Bidirectional(nnx.RNN(nnx.LSTMCell(i, 16, rngs=rngs)),
                                                      nnx.RNN(nnx.LSTMCell(i, 16, rngs=rngs)), rngs=rngs)
                                    for i in (8, 32)])
            self.simple = nnx.RNN(nnx.SimpleCell(32, 3, rngs=rngs))

    state = nnx.state(Tagger(nnx.Rngs(0)), nnx.Param).to_pure_dict()
    (tmp_path / "state.msgpack").write_bytes(serialization.msgpack_serialize(state))
    found, _ = inspected(tmp_path / "state.msgpack", capsys)
    by_location = {f["location"]: f for f in found}
    assert spec(by_location["layers.0+layers.1"]) == LSTM_8_16_2_BI
    assert [o["field"] for o in by_location["layers.0+layers.1"]["undetermined"]] == ["num_layers"]
    assert spec(by_location["simple"]) == (None, 32, 3, 1, False, 0, None, True)
