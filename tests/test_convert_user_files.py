"""`rnn-ref convert` on the model files users have: one layer taken out of a whole model, no flags typed.

Each file is made here by its framework the way its users write models (the five migrations of
the user-migrations study); each test runs where its family's engine is selected and skips
elsewhere, saying how to select it. The check is the framework's own model: the layer rnn_ref
took out of the file, run by the NumPy reference from the converted canonical ``.npz``, computes
what the framework's layer computes on the same input (the float32 bound of
``rnn_ref.core.compare``), and the target framework's plain loader takes what was written.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.cli import main
from rnn_ref.conversion.convert import read_params
from rnn_ref.core.compare import TOLERANCES
from rnn_ref.core.spec import RNNSpec
from rnn_ref.oracle.forward import forward

pytestmark = pytest.mark.engine
BOUND = TOLERANCES["float32"]


def converted(source, path, out, capsys, *extra):
    """Convert ``path`` to a canonical .npz with no layer flag but ``extra``; its one-line report."""
    capsys.readouterr()
    assert main(["convert", "--from", source, "--to", "canonical", *extra, str(path), str(out)]) == 0, \
        capsys.readouterr().err
    return capsys.readouterr().out


def reference_output(out, spec, x_ntc):
    """The output sequence (N, T, D·R) of the canonical layer in ``out`` on ``x_ntc`` (NumPy reference)."""
    params = read_params("canonical", out, spec)
    return forward(spec, params, np.swapaxes(x_ntc, 0, 1).astype(np.float64)).output.swapaxes(0, 1)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, atol=BOUND.atol, rtol=BOUND.rtol)


def refused(argv, capsys, words, out):
    """One line naming ``words``, exit 2, and OUT as it was (absent, or byte-identical)."""
    before = out.read_bytes() if out.exists() else None
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert (out.read_bytes() if out.exists() else None) == before


KERAS_ENGINES = ("keras", "keras-torch", "keras-jax")


@pytest.fixture
def keras_or_skip(request):
    """Keras, where one of its engines is selected (its tox env: tensorflow, keras-torch, keras-jax)."""
    from rnn_ref.suite.matrix import selection

    if not set(KERAS_ENGINES) & set(selection(request.config)):
        pytest.skip(f"no keras engine selected: run its tox env or pass --engines {KERAS_ENGINES[0]}")
    import keras

    return keras


X = np.random.default_rng(3).standard_normal((2, 5, 8)).astype(np.float32)
LSTM_8_16_2_BI = RNNSpec("lstm", 8, 16, num_layers=2, bidirectional=True)


# ----------------------------------------------------------------------------- torch
def test_torch_tagger_state_dict_and_nested_checkpoint(engine_or_skip, tmp_path, capsys):
    engine_or_skip("torch")
    import torch

    from tests.test_inspect_frameworks import make_torch_tagger

    tagger = make_torch_tagger()
    expected = tagger.lstm(torch.from_numpy(X))[0].detach().numpy()
    torch.save(tagger.state_dict(), tmp_path / "model.pt")
    torch.save({"model": tagger.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    for name, location in (("model.pt", "lstm"), ("checkpoint.pt", "model.lstm")):
        said = converted("torch", tmp_path / name, tmp_path / f"{name}.npz", capsys)  # the only layer: no flags
        assert f"the layer at {location!r}" in said
        close(reference_output(tmp_path / f"{name}.npz", LSTM_8_16_2_BI, X), expected)
    # read under one prefix, write under another (--from-prefix / --to-prefix), and --layer of a checkpoint
    assert main(["convert", "--from", "torch", "--to", "torch", "--layer", "model.lstm", "--to-prefix", "rnn.",
                 str(tmp_path / "checkpoint.pt"), str(tmp_path / "renamed.pt")]) == 0
    renamed = torch.load(tmp_path / "renamed.pt", weights_only=True)
    assert sorted(renamed) == sorted(f"rnn.{n}" for n in tagger.lstm.state_dict())
    assert main(["convert", "--from", "torch", "--to", "torch", "--mode", "lstm", "--layers", "2", "--bidirectional",
                 "--from-prefix", "rnn.", str(tmp_path / "renamed.pt"), str(tmp_path / "plain.pt")]) == 0
    plain = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True)
    plain.load_state_dict(torch.load(tmp_path / "plain.pt", weights_only=True))  # strict
    assert all(torch.equal(v, tagger.lstm.state_dict()[k]) for k, v in plain.state_dict().items())


def test_torch_seq2seq_without_layer_lists_the_candidates(engine_or_skip, tmp_path, capsys):
    engine_or_skip("torch")
    import torch
    from torch import nn

    model = nn.Module()
    model.encoder, model.decoder = nn.Module(), nn.Module()
    model.encoder.lstm, model.decoder.lstm = nn.LSTM(8, 16, num_layers=2), nn.LSTM(8, 16)
    torch.save(model.state_dict(), tmp_path / "s2s.pt")
    refused(["convert", "--from", "torch", "--to", "canonical", str(tmp_path / "s2s.pt"), str(tmp_path / "o.npz")],
            capsys, "2 recurrent layers ('decoder.lstm', 'encoder.lstm'): pick one with --layer LOC",
            tmp_path / "o.npz")
    for location, layer in (("encoder.lstm", model.encoder.lstm), ("decoder.lstm", model.decoder.lstm)):
        converted("torch", tmp_path / "s2s.pt", tmp_path / f"{location}.npz", capsys, "--layer", location)
        spec = RNNSpec("lstm", 8, 16, num_layers=layer.num_layers)
        expected = layer(torch.from_numpy(X).transpose(0, 1))[0].detach().numpy().swapaxes(0, 1)
        close(reference_output(tmp_path / f"{location}.npz", spec, X), expected)


# ----------------------------------------------------------------------------- Keras
def keras_models(keras):
    from keras import layers

    keras.utils.set_random_seed(0)
    tagger = keras.Sequential([keras.Input((None,), dtype="int32"), layers.Embedding(50, 8),
                               layers.Bidirectional(layers.LSTM(16, return_sequences=True), name="bi0"),
                               layers.Bidirectional(layers.LSTM(16, return_sequences=True), name="bi1"),
                               layers.Dense(3)])
    stack = keras.Sequential([keras.Input((None, 8)), layers.LSTM(12, return_sequences=True, name="l0"),
                              layers.LSTM(12, return_sequences=True, name="l1")])
    return tagger, stack


def keras_run(keras, recurrent, x):
    for layer in recurrent:
        x = layer(x)
    return keras.ops.convert_to_numpy(x)


def test_keras_sequential_files_whole(keras_or_skip, tmp_path, capsys):
    keras = keras_or_skip

    tagger, stack = keras_models(keras)
    for model, recurrent, spec in ((tagger, tagger.layers[1:3], LSTM_8_16_2_BI),
                                   (stack, stack.layers, RNNSpec("lstm", 8, 12, num_layers=2))):
        expected = keras_run(keras, recurrent, X)
        for suffix in (".keras", ".weights.h5"):
            path = tmp_path / f"{model.name}{suffix}"
            model.save(path) if suffix == ".keras" else model.save_weights(path)
            out = tmp_path / f"{model.name}{suffix}.npz"
            converted("keras", path, out, capsys)
            close(reference_output(out, spec, X), expected)


def test_keras_truncated_file_and_ambiguity_are_refused(keras_or_skip, tmp_path, capsys):
    keras = keras_or_skip
    from keras import layers

    x = keras.Input((None, 4))
    model = keras.Model(x, layers.GRU(3, name="b")(layers.LSTM(5, return_sequences=True, name="a")(x)))
    model.save(tmp_path / "two.keras")
    out = tmp_path / "out.npz"
    refused(["convert", "--from", "keras", "--to", "canonical", str(tmp_path / "two.keras"), str(out)], capsys,
            "2 recurrent layers ('a', 'b'): pick one with --layer LOC", out)
    data = (tmp_path / "two.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    refused(["convert", "--from", "keras", "--to", "canonical", str(tmp_path / "cut.keras"), str(out)], capsys,
            "cut.keras", out)


# ----------------------------------------------------------------------------- Gluon
def gluon_net(seed):
    import mxnet as mx
    from mxnet.gluon import nn, rnn

    class Net(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.lstm = rnn.LSTM(16, num_layers=2, bidirectional=True, layout="NTC")
                self.out = nn.Dense(3, flatten=False)

        def hybrid_forward(self, F, x):
            return self.out(self.lstm(x))

    mx.random.seed(seed)
    net = Net()
    net.initialize(mx.init.Uniform(0.5))
    net.hybridize()
    net(mx.nd.array(X))
    return net


def test_gluon_whole_network_params(engine_or_skip, tmp_path, capsys):
    engine_or_skip("gluon")
    import mxnet as mx

    net = gluon_net(0)
    expected = net.lstm(mx.nd.array(X)).asnumpy()
    net.save_parameters(str(tmp_path / "g.params"))
    assert "the layer at 'lstm'" in converted("gluon", tmp_path / "g.params", tmp_path / "g.npz", capsys)
    close(reference_output(tmp_path / "g.npz", LSTM_8_16_2_BI, X), expected)
    # into another whole network's file: its own loader takes it, its Dense untouched
    other = gluon_net(1)
    dense = other.out.weight.data().asnumpy()
    other.save_parameters(str(tmp_path / "other.params"))
    assert main(["convert", "--from", "canonical", "--to", "gluon", "--mode", "lstm", "--layers", "2",
                 "--bidirectional", str(tmp_path / "g.npz"), str(tmp_path / "other.params")]) == 0
    assert "into its layer at 'lstm'" in capsys.readouterr().out
    other.load_parameters(str(tmp_path / "other.params"))
    close(other.lstm(mx.nd.array(X)).asnumpy(), expected)
    assert np.array_equal(other.out.weight.data().asnumpy(), dense)


# ----------------------------------------------------------------------------- ONNX
def test_whole_torch_onnx_export_with_external_data(engine_or_skip, tmp_path, capsys):
    engine_or_skip("onnx")
    pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript (tox -e onnx)")
    torch = pytest.importorskip("torch", reason="torch.onnx.export needs torch (tox -e onnx)")
    from tests.test_inspect_frameworks import exported_tagger

    tagger = exported_tagger(tmp_path)
    assert any(p.suffix == ".data" for p in tmp_path.iterdir())
    expected = tagger.lstm(torch.from_numpy(X))[0].detach().numpy()
    converted("onnx", tmp_path / "model.onnx", tmp_path / "o.npz", capsys)
    close(reference_output(tmp_path / "o.npz", LSTM_8_16_2_BI, X), expected)


def test_onnx_external_data_outside_the_models_folder_is_not_converted(engine_or_skip, tmp_path, capsys):
    engine_or_skip("onnx")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inside = tmp_path / "model"
    inside.mkdir()
    (tmp_path / "outside.data").write_bytes(np.zeros(8 * 3, np.float32).tobytes())
    w = numpy_helper.from_array(np.zeros((1, 8, 3), np.float32), "W")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../outside.data"), ("offset", "0"), ("length", str(4 * 24))):
        w.external_data.add(key=key, value=value)
    r = numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="lstm", hidden_size=2)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w, r])
    onnx.save_model(helper.make_model(graph), str(inside / "escape.onnx"))
    out = tmp_path / "out.npz"
    refused(["convert", "--from", "onnx", "--to", "canonical", str(inside / "escape.onnx"), str(out)], capsys,
            "outside the model's folder", out)


# ----------------------------------------------------------------------------- into the user's own model file
def test_torch_layer_into_a_checkpoint_keeps_everything_else(engine_or_skip, tmp_path, capsys):
    engine_or_skip("torch")
    import torch
    from torch import nn

    source, target = nn.Module(), nn.Module()
    for model, seed, decoder in ((source, 1, 6), (target, 2, 5)):  # the decoders' shapes differ
        torch.manual_seed(seed)
        model.encoder, model.decoder = nn.LSTM(8, 16, num_layers=2), nn.LSTM(8, decoder)
        model.head = nn.Linear(decoder, 3)
    torch.save(source.state_dict(), tmp_path / "s2s.pt")
    torch.save({"model": target.state_dict(), "epoch": 7}, tmp_path / "ckpt.pt")
    out = tmp_path / "ckpt.pt"
    assert main(["convert", "--from", "torch", "--to", "torch", "--layer", "encoder", "--verify",
                 str(tmp_path / "s2s.pt"), str(out)]) == 0
    said = capsys.readouterr().out
    assert "into its layer at 'model.encoder'" in said and "verification passed" in said
    written = torch.load(out, weights_only=True)
    assert written["epoch"] == 7
    target.load_state_dict(written["model"], strict=True)
    assert all(torch.equal(v, source.encoder.state_dict()[k]) for k, v in target.encoder.state_dict().items())
    torch.manual_seed(2)
    untouched = nn.Module()
    untouched.encoder, untouched.decoder, untouched.head = nn.LSTM(8, 16, num_layers=2), nn.LSTM(8, 5), nn.Linear(5, 3)
    assert all(torch.equal(written["model"][k], v) for k, v in untouched.state_dict().items()
               if not k.startswith("encoder."))
    # a target whose layers' shapes differ: one line, the file byte-identical
    refused(["convert", "--from", "torch", "--to", "torch", "--layer", "decoder", str(tmp_path / "s2s.pt"),
             str(out)], capsys, "no recurrent layer has the shapes", out)
    refused(["convert", "--from", "torch", "--to", "torch", "--layer", "encoder", "--target-layer", "model.decoder",
             str(tmp_path / "s2s.pt"), str(out)], capsys, "has other shapes", out)
    # two layers that fit: one line naming them
    torch.save({"a": source.encoder.state_dict(), "b": source.encoder.state_dict()}, tmp_path / "two.pt")
    refused(["convert", "--from", "torch", "--to", "torch", "--layer", "encoder", str(tmp_path / "s2s.pt"),
             str(tmp_path / "two.pt")], capsys, "2 recurrent layers fit ('a', 'b'): pick one with --target-layer",
            tmp_path / "two.pt")


def keras_and_torch(keras_or_skip):
    pytest.importorskip("torch", reason="torch <-> Keras needs torch beside Keras (tox -e keras-torch)")
    return keras_or_skip


def test_torch_tagger_into_keras_sequential_and_back(keras_or_skip, tmp_path, capsys):
    keras = keras_and_torch(keras_or_skip)
    import torch

    from tests.test_inspect_frameworks import make_torch_tagger

    tagger = make_torch_tagger()
    torch.save(tagger.state_dict(), tmp_path / "model.pt")
    expected = tagger.lstm(torch.from_numpy(X))[0].detach().numpy()
    model, _ = keras_models(keras)
    embedding = model.layers[0].get_weights()[0]
    model.save(tmp_path / "tagger.keras")
    model.save_weights(tmp_path / "tagger.weights.h5")
    for name in ("tagger.keras", "tagger.weights.h5"):
        assert main(["convert", "--from", "torch", "--to", "keras", str(tmp_path / "model.pt"),
                     str(tmp_path / name)]) == 0, capsys.readouterr().err
        assert "into its layer at 'bi0+bi1'" in capsys.readouterr().out
        user = keras.models.load_model(tmp_path / name) if name.endswith(".keras") else keras_models(keras)[0]
        if not name.endswith(".keras"):
            user.load_weights(tmp_path / name)  # the plain loader, no skip_mismatch
        close(keras_run(keras, user.layers[1:3], X), expected)
        assert np.array_equal(user.layers[0].get_weights()[0], embedding)  # every other layer untouched
    # and back: the Keras model's stack into a fresh torch tagger's state_dict, loaded strictly
    back = make_torch_tagger()
    torch.nn.init.zeros_(back.lstm.weight_ih_l0)
    torch.save(back.state_dict(), tmp_path / "back.pt")
    assert main(["convert", "--from", "keras", "--to", "torch", str(tmp_path / "tagger.keras"),
                 str(tmp_path / "back.pt")]) == 0, capsys.readouterr().err
    back.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True), strict=True)
    close(back.lstm(torch.from_numpy(X))[0].detach().numpy(), expected)
    # a truncated .keras target and a target of other shapes: one line each, the file byte-identical
    data = (tmp_path / "tagger.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    refused(["convert", "--from", "torch", "--to", "keras", str(tmp_path / "model.pt"), str(tmp_path / "cut.keras")],
            capsys, "cut.keras", tmp_path / "cut.keras")
    _, stack = keras_models(keras)
    stack.save_weights(tmp_path / "stack.weights.h5")
    refused(["convert", "--from", "torch", "--to", "keras", str(tmp_path / "model.pt"),
             str(tmp_path / "stack.weights.h5")], capsys, "no recurrent layer has the shapes", tmp_path / "stack.weights.h5")
