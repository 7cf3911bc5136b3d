"""ONNX weight files: `rnn-ref convert --from/--to onnx`, `.onnx` and `.npz` (l{k}.W/R/B).

Reading an .onnx file parses the protobuf and reads the recurrent nodes' initializers; it
runs nothing, and refuses, by name, whatever is not one chain of RNN/LSTM/GRU layers.
The .npz form and `rnn-ref map onnx` need NumPy alone; the .onnx tests run in the onnx env.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.cli import main
from rnn_ref.conversion.convert import read_params, write_params
from rnn_ref.core.errors import ParamsError


def needs_onnx(test):
    """Runs where the onnx engine is selected (tox -e onnx); deselected in the NumPy-only env."""
    return pytest.mark.engine(pytest.mark.usefixtures("onnx_selected")(test))


@pytest.fixture
def onnx_selected(engine_or_skip):
    return engine_or_skip("onnx")

SPECS = {
    "lstm-L2-bi": RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True),
    "gru_reset_before-L1": RNNSpec("gru", 3, 4, gru_variant="reset_before"),
    "gru-L3-bi": RNNSpec("gru", 2, 3, num_layers=3, bidirectional=True),
    "rnn_relu-L2-nobias": RNNSpec("rnn_relu", 3, 4, num_layers=2, bias=False),
}


# ----------------------------------------------------------------------------- NumPy alone
def test_npz_keys_are_W_R_B_per_layer(tmp_path):
    spec = SPECS["lstm-L2-bi"]
    write_params("onnx", tmp_path / "w.npz", Params.random(spec, dtype=np.float32))
    with np.load(tmp_path / "w.npz") as archive:
        shapes = {key: archive[key].shape for key in archive.files}
    assert shapes == {"l0.W": (2, 16, 3), "l0.R": (2, 16, 4), "l0.B": (2, 32),
                      "l1.W": (2, 16, 8), "l1.R": (2, 16, 4), "l1.B": (2, 32)}


def test_map_onnx_shows_gate_order_and_the_two_bias_halves(capsys):
    assert main(["map", "onnx", "--mode", "lstm", "--bidirectional"]) == 0
    out = capsys.readouterr().out
    assert "l0.W  (2, 4H, I)\n    [0, 0:H]     = l0.fwd.w_ih.i\n    [0, H:2H]    = l0.fwd.w_ih.o\n" in out
    assert "    [1, 2H:3H]   = l0.bwd.w_ih.f\n    [1, 3H:4H]   = l0.bwd.w_ih.g\n" in out
    assert "l0.B  (2, 8H)\n" in out and "    [1, 4H:5H]   = l0.bwd.b_hh.i\n" in out


def test_map_torch_to_onnx_pairs_gru_gates(capsys):
    assert main(["map", "torch", "--mode", "gru", "--to", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "l0.W[0, 0:H]\n  = weight_ih_l0[H:2H]\n" in out  # ONNX z first, torch r first
    assert "l0.B[0, 3H:4H]\n  = bias_hh_l0[H:2H]\n" in out


def test_map_onnx_shows_the_peepholes_in_onnx_order_and_a_reverse_layer_at_index_0(capsys):
    """P is [p_i, p_o, p_f] per direction; a reverse layer's one direction is the canonical bwd, at W[0]."""
    assert main(["map", "onnx", "--mode", "lstm", "--bidirectional", "--peepholes"]) == 0
    out = capsys.readouterr().out
    assert "l0.P  (2, 3H)\n    [0, 0:H]     = l0.fwd.w_peep.i\n    [0, H:2H]    = l0.fwd.w_peep.o\n" in out
    assert "    [1, 2H:3H]   = l0.bwd.w_peep.f\n" in out
    assert main(["map", "onnx", "--mode", "gru", "--reverse"]) == 0
    assert "l0.W  (1, 3H, I)\n    [0, 0:H]     = l0.bwd.w_ih.z\n" in capsys.readouterr().out


def test_map_onnx_refuses_a_merge_mode(capsys):
    assert main(["map", "onnx", "--mode", "lstm", "--bidirectional", "--merge-mode", "sum"]) != 0
    assert "ONNX's RNN, LSTM and GRU have no merge of the two directions" in capsys.readouterr().err


def test_onnx_needs_onnx_for_onnx_files_but_not_for_npz(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ParamsError, match=r"\.onnx files need onnx"):
        write_params("onnx", tmp_path / "w.onnx", Params.random(SPECS["gru_reset_before-L1"]))


# ----------------------------------------------------------------------------- .onnx files
@needs_onnx
@pytest.mark.parametrize("spec_id", list(SPECS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_file_round_trip_is_bit_exact(tmp_path, spec_id, dtype):
    spec = SPECS[spec_id]
    params = Params.random(spec, seed=4, dtype=dtype)
    write_params("onnx", tmp_path / "w.onnx", params)
    assert read_params("onnx", tmp_path / "w.onnx", spec).equal(params)
    guessed = spec.replace(input_size=1, hidden_size=1)
    assert read_params("onnx", tmp_path / "w.onnx", guessed, infer=True).equal(params)


@needs_onnx
def test_convert_torch_to_onnx_on_the_command_line(tmp_path, capsys):
    spec = SPECS["lstm-L2-bi"]
    params = Params.random(spec, seed=2, dtype=np.float32)
    write_params("torch", tmp_path / "torch.npz", params)
    argv = ["convert", "--from", "torch", "--to", "onnx", "--mode", "lstm", "--layers", "2", "--bidirectional"]
    assert main([*argv, str(tmp_path / "torch.npz"), str(tmp_path / "model.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    back = ["convert", "--from", "onnx", "--to", "canonical", "--mode", "lstm", "--layers", "2", "--bidirectional"]
    assert main([*back, str(tmp_path / "model.onnx"), str(tmp_path / "canonical.npz")]) == 0
    assert read_params("canonical", tmp_path / "canonical.npz", spec).equal(params)


@needs_onnx
def test_reading_imports_no_runtime(tmp_path):
    """Reading parses; it does not run the model (no onnxruntime, no onnx.reference, no torch)."""
    spec = SPECS["gru-L3-bi"]
    write_params("onnx", tmp_path / "w.onnx", Params.random(spec))
    probe = (
        "import sys; from rnn_ref.conversion.convert import read_params; from rnn_ref import RNNSpec; "
        f"read_params('onnx', {str(tmp_path / 'w.onnx')!r}, RNNSpec('gru', 1, 1, num_layers=3, bidirectional=True), "
        "infer=True); print(sorted(m for m in ('onnxruntime', 'onnx.reference', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@needs_onnx
def test_an_exported_torch_model_reads_back_to_the_torch_weights(tmp_path):
    """The file torch.onnx.export writes (its own initializer names, gates reordered by the
    exporter) reads back, through the ONNX rows, to exactly the weights torch held."""
    pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript (tox -e onnx)")
    import torch

    from rnn_ref.adapters.converted.torch_onnx import export_to_onnx, exporting_module
    from rnn_ref.adapters.torch.fused import TorchAdapter

    spec = RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True)
    params = Params.random(spec, seed=9, dtype=np.float32)
    layer = TorchAdapter().build(spec, params)
    model = export_to_onnx(exporting_module(spec, layer, False), (torch.zeros(5, 2, 3),))
    (tmp_path / "exported.onnx").write_bytes(model)
    assert read_params("onnx", tmp_path / "exported.onnx", spec).equal(params)


def make_graph(nodes, initializers, inputs=("X",), outputs=("Y",)):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def lstm_node(x, y, prefix, **attributes):
    from onnx import helper

    return helper.make_node("LSTM", [x, f"{prefix}.W", f"{prefix}.R"], [y], name=prefix, hidden_size=2, **attributes)


def weights(prefix, directions=1, inputs=3, hidden=2):
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    return [numpy_helper.from_array(rng.standard_normal((directions, 4 * hidden, size)).astype(np.float32),
                                    f"{prefix}.{kind}") for kind, size in (("W", inputs), ("R", hidden))]


HAND_MADE = RNNSpec("lstm", 3, 2, bias=False)


def refused(tmp_path, model, spec=HAND_MADE):
    import onnx

    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(ParamsError) as error:
        read_params("onnx", tmp_path / "m.onnx", spec)
    return str(error.value)


@needs_onnx
def test_a_hand_made_lstm_reads(tmp_path):
    """The fixture the refusals below start from is itself readable."""
    import onnx

    onnx.save(make_graph([lstm_node("X", "Y", "a")], weights("a")), tmp_path / "m.onnx")
    params = read_params("onnx", tmp_path / "m.onnx", RNNSpec("lstm", 3, 2, bias=False))
    assert params["l0.fwd.w_ih.o"].shape == (2, 3)


@needs_onnx
def test_an_unknown_node_is_refused(tmp_path):
    from onnx import helper

    model = make_graph([lstm_node("X", "h", "a"), helper.make_node("Relu", ["h"], ["Y"], name="act")], weights("a"))
    assert "nodes other than one chain of RNN/LSTM/GRU layers: Relu 'act'" in refused(tmp_path, model)


@needs_onnx
def test_a_custom_domain_op_is_refused_without_being_run(tmp_path):
    from onnx import helper

    evil = helper.make_node("Exec", ["X"], ["Y"], name="evil", domain="com.example")
    model = make_graph([lstm_node("X", "h", "a"), evil], weights("a"))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    assert "Exec 'evil'" in refused(tmp_path, model)


@needs_onnx
def test_two_chains_are_refused(tmp_path):
    model = make_graph([lstm_node("X", "Y", "a"), lstm_node("X", "Z", "b")], weights("a") + weights("b"),
                       outputs=("Y", "Z"))
    assert "more than one chain of recurrent layers: LSTM 'b' reads the output of no recurrent node" in \
        refused(tmp_path, model, RNNSpec("lstm", 3, 2, num_layers=2, bias=False))


@needs_onnx
def test_a_layer_of_another_mode_is_refused(tmp_path):
    model = make_graph([lstm_node("X", "Y", "a")], weights("a"))
    message = refused(tmp_path, model, RNNSpec("gru", 3, 2, bias=False))
    assert "mode is 'lstm' in the file, 'gru' as declared" in message
    assert "bias is False in the file, True as declared" in refused(tmp_path, model, RNNSpec("lstm", 3, 2))


@pytest.mark.parametrize(("attributes", "declared", "message"), [
    (dict(direction="reverse"), dict(reverse=True), "reverse is True in the file, False as declared"),
    (dict(clip=1.5), dict(clip=1.5), "clip is 1.5 in the file, None as declared"),
    (dict(input_forget=1), dict(input_forget=True), "input_forget is True in the file, False as declared"),
    (dict(activations=["Sigmoid", "Relu", "Tanh"]), dict(activations=("Sigmoid", "Relu", "Tanh")),
     "activations is ('Sigmoid', 'Relu', 'Tanh') in the file, None as declared"),
    (dict(activations=["HardSigmoid", "Tanh", "LeakyRelu"], activation_alpha=[0.25, 0.125], activation_beta=[0.75]),
     dict(activations=("HardSigmoid", "Tanh", "LeakyRelu"), activation_alpha=(0.25, 0.0, 0.125),
          activation_beta=(0.75, 0.0, 0.0)), "activation_alpha is (0.25, 0.0, 0.125) in the file"),
], ids=["reverse", "clip", "input_forget", "activations", "alpha-beta-consumed-by-the-activations-that-take-them"])
@needs_onnx
def test_an_option_of_the_file_reads_only_as_declared(tmp_path, attributes, declared, message):
    """The options are the node's attributes: read into the layer, and compared with the declared one
    (activation_alpha [0.25, 0.125] of HardSigmoid, Tanh, LeakyRelu is HardSigmoid's and LeakyRelu's)."""
    import onnx

    model = make_graph([lstm_node("X", "Y", "a", **attributes)], weights("a"))
    assert message in refused(tmp_path, model)
    onnx.save(model, tmp_path / "m.onnx")
    params = read_params("onnx", tmp_path / "m.onnx", HAND_MADE.replace(**declared))
    assert params.spec == HAND_MADE.replace(**declared)


@pytest.mark.parametrize(("attributes", "message"), [
    (dict(direction="bidirectional", activations=["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Relu", "Tanh"]),
     "runs its directions with different activations (Sigmoid, Tanh, Tanh forward, Sigmoid, Relu, Tanh backward)"),
    (dict(activations=["Sigmoid", "Tanh", "Tanh"], activation_alpha=[0.5]),
     "lists 1 activation_alpha values [0.5], but only 0 of its activations ['Sigmoid', 'Tanh', 'Tanh'] take an alpha"),
    (dict(activations=["Sigmoid", "Gelu", "Tanh"]), "has the activation(s) ['Gelu'], which ONNX does not define"),
    (dict(input_forget=2), "has input_forget=2; ONNX couples the gates for 1 and not for 0"),
    (dict(clip=-1.0), "clip=-1.0 must be a finite number > 0"),
], ids=["directions-differ", "alpha-nobody-takes", "unknown-activation", "input_forget-2", "negative-clip"])
@needs_onnx
def test_what_the_canonical_form_cannot_hold_is_refused(tmp_path, attributes, message):
    directions = 2 if attributes.get("direction") == "bidirectional" else 1
    spec = HAND_MADE.replace(bidirectional=directions == 2)
    assert message in refused(tmp_path, make_graph([lstm_node("X", "Y", "a", **attributes)],
                                                   weights("a", directions)), spec)


@needs_onnx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_peepholes_go_through_an_onnx_file_and_an_onnx_npz(tmp_path, dtype):
    """P (D, 3H) = [p_i, p_o, p_f] per layer: written from w_peep.{i,f,o}, read back bit-exact."""
    import onnx

    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True, peepholes=True, clip=2.0, input_forget=True)
    params = Params.random(spec, seed=6, dtype=dtype)
    for suffix in (".onnx", ".npz"):
        write_params("onnx", tmp_path / f"w{suffix}", params)
        assert read_params("onnx", tmp_path / f"w{suffix}", spec).equal(params)
    node = next(n for n in onnx.load(tmp_path / "w.onnx").graph.node if n.op_type == "LSTM")
    assert list(node.input)[7] == "l0.P" and list(node.input)[4:7] == ["", "", ""]
    with np.load(tmp_path / "w.npz") as archive:
        p = archive["l1.P"]
    assert p.shape == (2, 12)
    np.testing.assert_array_equal(p[1, 4:8], params["l1.bwd.w_peep.o"])
    message = refused(tmp_path, onnx.load(tmp_path / "w.onnx"), spec.replace(peepholes=False))
    assert "peepholes is True in the file, False as declared" in message


@needs_onnx
def test_a_stored_zero_p_reads_as_the_layer_without_peepholes(tmp_path):
    """A zero P computes the plain layer: it reads as it without --peepholes, and as zero peepholes with it."""
    import onnx
    from onnx import numpy_helper

    spec = RNNSpec("lstm", 3, 4, peepholes=True)
    params = Params.random(spec, seed=1, dtype=np.float32)
    write_params("onnx", tmp_path / "w.onnx", params)
    model = onnx.load(tmp_path / "w.onnx")
    stored = next(t for t in model.graph.initializer if t.name == "l0.P")
    stored.CopyFrom(numpy_helper.from_array(np.zeros((1, 12), np.float32), "l0.P"))
    onnx.save(model, tmp_path / "zero.onnx")
    plain = read_params("onnx", tmp_path / "zero.onnx", spec.replace(peepholes=False))
    assert plain.spec.peepholes is False and plain["l0.fwd.w_ih.i"].shape == (4, 3)
    assert not read_params("onnx", tmp_path / "zero.onnx", spec)["l0.fwd.w_peep.o"].any()


@needs_onnx
def test_convert_refuses_peepholes_for_an_engine_without_them(tmp_path, capsys):
    """`rnn-ref convert --peepholes --from onnx --to torch`: torch's LSTM has no peepholes, so the
    command fails naming the engine and the option, and writes nothing."""
    spec = RNNSpec("lstm", 3, 4, peepholes=True)
    write_params("onnx", tmp_path / "w.onnx", Params.random(spec, dtype=np.float32))
    argv = ["convert", "--from", "onnx", "--to", "torch", "--mode", "lstm", "--peepholes"]
    assert main([*argv, str(tmp_path / "w.onnx"), str(tmp_path / "torch.npz")]) != 0
    err = capsys.readouterr().err
    assert "torch cannot express this lstm layer (options: peepholes): " in err and "no peephole" in err, err
    assert not (tmp_path / "torch.npz").exists()


@needs_onnx
def test_convert_carries_peepholes_from_onnx_to_canonical_and_back(tmp_path):
    spec = RNNSpec("lstm", 3, 4, peepholes=True, reverse=True)
    params = Params.random(spec, seed=3, dtype=np.float32)
    write_params("onnx", tmp_path / "w.onnx", params)
    layer = ["--mode", "lstm", "--peepholes", "--reverse"]
    assert main(["convert", "--from", "onnx", "--to", "canonical", *layer, str(tmp_path / "w.onnx"),
                 str(tmp_path / "c.npz")]) == 0
    assert main(["convert", "--from", "canonical", "--to", "onnx", *layer, str(tmp_path / "c.npz"),
                 str(tmp_path / "back.npz")]) == 0
    assert read_params("onnx", tmp_path / "back.npz", spec).equal(params)


@needs_onnx
def test_weights_fed_as_graph_inputs_are_refused(tmp_path):
    model = make_graph([lstm_node("X", "Y", "a")], [], inputs=("X", "a.W", "a.R"))
    assert "W of LSTM 'a' ('a.W') is not stored as an initializer" in refused(tmp_path, model)


@needs_onnx
def test_external_data_is_not_followed(tmp_path):
    from onnx import TensorProto

    model = make_graph([lstm_node("X", "Y", "a")], weights("a"))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    assert "stored as external data, which is not read" in refused(tmp_path, model)


@needs_onnx
def test_a_file_that_is_not_onnx_is_named(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x00\x01 certainly not protobuf \xff" * 10)
    with pytest.raises(ParamsError, match=r"m\.onnx: not (a readable ONNX model|an ONNX model with a graph)"):
        read_params("onnx", tmp_path / "m.onnx", RNNSpec("lstm", 3, 2))


# ----------------------------------------------------------------------------- malformed files: one line each
STACKED = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True)


def edited(tmp_path, edit, spec=STACKED):
    """rnn-ref's own .onnx of ``spec``, changed by ``edit(model, lstm_nodes)``, then read: the error's text."""
    import onnx

    write_params("onnx", tmp_path / "good.onnx", Params.random(spec, dtype=np.float32))
    model = onnx.load(tmp_path / "good.onnx")
    edit(model, [n for n in model.graph.node if n.op_type == "LSTM"])
    onnx.save(model, tmp_path / "edited.onnx")
    with pytest.raises(ParamsError) as error:
        read_params("onnx", tmp_path / "edited.onnx", spec)
    assert "\n" not in str(error.value)
    return str(error.value)


def set_attribute(name, value):
    def edit(model, nodes):
        from onnx import helper

        for node in nodes:
            for attribute in [a for a in node.attribute if a.name == name]:
                node.attribute.remove(attribute)
            node.attribute.append(helper.make_attribute(name, value))
    return edit


def weight_dims(dims, keep_data=True, data_type=None):
    def edit(model, nodes):
        tensor = next(t for t in model.graph.initializer if t.name == "l0.W")
        del tensor.dims[:]
        tensor.dims.extend(dims)
        if not keep_data:
            tensor.ClearField("raw_data")
        if data_type is not None:
            tensor.data_type = data_type
    return edit


def tensor_attribute():
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(2, np.float32))


def drop_inputs(start, stop=None):
    def edit(model, nodes):
        if stop is None:
            del nodes[0].input[start:]
        else:
            nodes[0].input[start] = ""
    return edit


@needs_onnx
@pytest.mark.parametrize(("edit", "message"), [
    (set_attribute("activations", [1, 2, 3]), "LSTM 'l0' has activations as an INTS attribute; ONNX defines it as "
                                              "STRINGS"),
    (lambda model, nodes: set_attribute("activations", tensor_attribute())(model, nodes),
     "LSTM 'l0' has activations as a TENSOR attribute; ONNX defines it as STRINGS"),
    (weight_dims([2, 16000000, 300000]), "W of LSTM 'l0' ('l0.W') declares the shape (2, 16000000, 300000): "
                                         "9600000000000 values, more than the 1073741824"),
    (weight_dims([2, 2**31, 2**31]), "declares the shape (2, 2147483648, 2147483648): 9223372036854775808 values"),
    (weight_dims([2, 16777216, 16], keep_data=False), "declares the shape (2, 16777216, 16) of FLOAT, 536870912 "
                                                      "values, but holds 0"),
    (weight_dims([2, 16, 3], data_type=16), "W of LSTM 'l0' ('l0.W') holds BFLOAT16 values; expected FLOAT or DOUBLE"),
    (drop_inputs(0), "LSTM 'l0' lacks its inputs X, W, R (ONNX LSTM needs X, W and R"),
    (drop_inputs(1, 1), "LSTM 'l0' lacks its input W (ONNX LSTM needs X, W and R"),
    (drop_inputs(1), "LSTM 'l0' lacks its inputs W, R (ONNX LSTM needs X, W and R"),
    (set_attribute("hidden_size", 5), "LSTM 'l0' has hidden_size=5, but its R (2, 16, 4) holds hidden size 4"),
    (set_attribute("direction", "Bidirectional"), "LSTM 'l0' has direction='Bidirectional' (a STRING attribute), "
                                                  "which is not one of the STRING values 'forward', 'reverse', "
                                                  "'bidirectional'"),
    (set_attribute("direction", 1), "LSTM 'l0' has direction=1 (an INT attribute), which is not one of"),
    (set_attribute("activations", ["Sigmoid", "Tanh", "Tanh"]),
     "LSTM 'l0' has 3 activations ['Sigmoid', 'Tanh', 'Tanh']; a bidirectional LSTM lists its 3 activations per "
     "direction, 6 in all"),
    (set_attribute("hiden_size", 4), "LSTM 'l0' has an attribute 'hiden_size' (INT) that LSTM does not have"),
], ids=["act_ints", "act_tensor", "huge_dims", "huge_dims2", "claim2g", "bf16_lie", "no_inputs", "missing_w",
        "only_x", "hidden_mismatch", "dir_case", "dir_int", "act_bidir_count", "unknown_attribute"])
def test_a_malformed_node_or_tensor_is_one_line_that_names_it(tmp_path, edit, message):
    assert message in edited(tmp_path, edit)


@needs_onnx
def test_the_default_activations_of_both_directions_read(tmp_path):
    import onnx

    write_params("onnx", tmp_path / "good.onnx", Params.random(STACKED, dtype=np.float32))
    model = onnx.load(tmp_path / "good.onnx")
    set_attribute("activations", ["Sigmoid", "Tanh", "Tanh"] * 2)(model, [n for n in model.graph.node
                                                                          if n.op_type == "LSTM"])
    onnx.save(model, tmp_path / "spelled.onnx")
    assert read_params("onnx", tmp_path / "spelled.onnx", STACKED).equal(read_params("onnx", tmp_path / "good.onnx",
                                                                                      STACKED))


@needs_onnx
def test_a_file_above_the_protobuf_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import onnx

    import rnn_ref.adapters.onnx.files

    write_params("onnx", tmp_path / "w.onnx", Params.random(SPECS["gru-L3-bi"]))
    monkeypatch.setattr(rnn_ref.adapters.onnx.files, "MAX_ONNX_BYTES", 100)
    monkeypatch.setattr(onnx, "load_model_from_string", lambda data: pytest.fail("the file was parsed"))
    with pytest.raises(ParamsError, match=r"w\.onnx: holds \d+ bytes, more than the 100 bytes protobuf can parse"):
        read_params("onnx", tmp_path / "w.onnx", SPECS["gru-L3-bi"])


@needs_onnx
def test_a_model_that_does_not_fit_in_memory_is_one_line(tmp_path, monkeypatch):
    import onnx

    def out_of_memory(data):
        raise MemoryError

    write_params("onnx", tmp_path / "w.onnx", Params.random(SPECS["gru-L3-bi"]))
    monkeypatch.setattr(onnx, "load_model_from_string", out_of_memory)
    with pytest.raises(ParamsError, match=r"w\.onnx: a \d+-byte ONNX model does not fit in memory here"):
        read_params("onnx", tmp_path / "w.onnx", SPECS["gru-L3-bi"])


@needs_onnx
def test_external_data_on_any_tensor_is_refused_and_not_opened(tmp_path, monkeypatch):
    """The file may be run by --verify, so not even an unused initializer may point elsewhere."""
    import builtins

    from onnx import TensorProto, numpy_helper

    model = make_graph([lstm_node("X", "Y", "a")], weights("a"))
    unused = numpy_helper.from_array(np.zeros(3, np.float32), "unused")
    unused.ClearField("raw_data")
    unused.data_location = TensorProto.EXTERNAL
    entry = unused.external_data.add()
    entry.key, entry.value = "location", str(tmp_path / "secret")
    model.graph.initializer.append(unused)
    (tmp_path / "secret").write_bytes(b"\0" * 12)
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda name, *a, **k: pytest.fail("opened") if "secret" in str(name)
                        else real_open(name, *a, **k))
    assert "the initializer 'unused' is stored as external data, which is not read" in refused(tmp_path, model)
