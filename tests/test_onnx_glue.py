"""An .onnx file converts only when its graph computes its recurrent stack and nothing else.

Reading proves the ops around the RNN/LSTM/GRU nodes are the identity (rnn_ref/onnx_glue.py:
element ids followed through the graph): what rnn-ref's own writer, onnx's layout=1 nodes and
torch.onnx.export produce reads; a graph that permutes features, starts from a stored state,
stores sequence lengths, takes more inputs or gives other outputs is refused with one line
that says what it does. Each refused file is also checked against onnxruntime: the file
computes something else than the layer its weights describe, so converting it would be wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.cli import main
from rnn_ref.convert import read_params, write_params
from rnn_ref.errors import ParamsError
from rnn_ref.reference import forward

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("onnx_selected")]

LSTM = RNNSpec("lstm", 3, 4)
STACK = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True)


@pytest.fixture
def onnx_selected(engine_or_skip):
    return engine_or_skip("onnx")


def written(tmp_path, spec, name="good.onnx", seed=0):
    """rnn-ref's own .onnx of random params, parsed back (the model every test below edits)."""
    import onnx

    params = Params.random(spec, seed=seed, dtype=np.float32)
    write_params("onnx", tmp_path / name, params)
    return onnx.load(tmp_path / name), params


def recurrent(model):
    return [n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU")]


def refusal(tmp_path, model, spec):
    import onnx

    onnx.save(model, tmp_path / "edited.onnx")
    with pytest.raises(ParamsError) as error:
        read_params("onnx", tmp_path / "edited.onnx", spec)
    assert "\n" not in str(error.value)
    return str(error.value)


def differs_on_onnxruntime(tmp_path, spec, params) -> float:
    """max |edited.onnx on onnxruntime - the layer of ``params``| on a seeded input."""
    import onnxruntime

    x = np.random.default_rng(1).standard_normal((5, 2, spec.input_size)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "edited.onnx"), providers=["CPUExecutionProvider"])
    return float(np.abs(session.run(None, {"X": x})[0] - forward(spec, params, x).output).max())


def with_input(node, position, name):
    while len(node.input) <= position:
        node.input.append("")
    node.input[position] = name


def test_a_gather_that_permutes_the_input_features_is_refused(tmp_path):
    from onnx import helper, numpy_helper

    model, params = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), "perm"))
    model.graph.node.insert(0, helper.make_node("Gather", ["X", "perm"], ["Xp"], axis=2))
    recurrent(model)[0].input[0] = "Xp"
    message = refusal(tmp_path, model, LSTM)
    assert "LSTM 'l0' does not read the graph input as it is: the ops between them permute its features" in message
    assert differs_on_onnxruntime(tmp_path, LSTM, params) > 1e-3  # the file computes another function


def test_a_gather_between_two_layers_is_refused(tmp_path):
    from onnx import helper, numpy_helper

    model, _ = written(tmp_path, STACK)
    second = recurrent(model)[1]
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 0, 2, 3, 4, 5, 6, 7], np.int64), "perm"))
    model.graph.node.insert(list(model.graph.node).index(second),
                            helper.make_node("Gather", [second.input[0], "perm"], ["mixed"], axis=2))
    second.input[0] = "mixed"
    assert "LSTM 'l1' does not read the layer before's output as it is: the ops between them permute its " \
           "features" in refusal(tmp_path, model, STACK)


@pytest.mark.parametrize(("position", "value", "message"), [
    (5, np.full((1, 2, 4), 0.7, np.float32), "starts from a stored initial_h that is not zero ('stored')"),
    (6, np.full((1, 2, 4), 0.7, np.float32), "starts from a stored initial_c that is not zero ('stored')"),
    (4, np.array([2, 1], np.int32), "stores sequence_lens [2, 1]; the layer rnn-ref converts runs every sample's "
                                    "full length"),
], ids=["initial_h", "initial_c", "seq_lens"])
def test_a_stored_initial_state_or_sequence_lengths_are_refused(tmp_path, position, value, message):
    from onnx import numpy_helper

    model, params = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(value, "stored"))
    with_input(recurrent(model)[0], position, "stored")
    assert message in refusal(tmp_path, model, LSTM)
    assert differs_on_onnxruntime(tmp_path, LSTM, params) > 1e-3


def test_a_stored_zero_initial_state_reads_as_torch_onnx_export_writes_it(tmp_path):
    """torch.onnx.export stores h0 = c0 = 0 as initializers: that is the layer's own start."""
    import onnx
    from onnx import numpy_helper

    model, params = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(np.zeros((1, 2, 4), np.float32), "zeros"))
    with_input(recurrent(model)[0], 5, "zeros")
    with_input(recurrent(model)[0], 6, "zeros")
    onnx.save(model, tmp_path / "zeros.onnx")
    assert read_params("onnx", tmp_path / "zeros.onnx", LSTM).equal(params)


def test_an_initial_state_fed_as_a_graph_input_is_refused(tmp_path):
    from onnx import TensorProto, helper

    model, _ = written(tmp_path, LSTM)
    model.graph.input.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "N", 4]))
    with_input(recurrent(model)[0], 5, "h0")
    assert "LSTM 'l0' takes its initial_h from the graph input 'h0'" in refusal(tmp_path, model, LSTM)


def test_an_output_that_is_not_the_layers_is_refused(tmp_path):
    from onnx import TensorProto, helper

    model, _ = written(tmp_path, STACK)
    model.graph.output.append(helper.make_tensor_value_info("l0.Y_h", TensorProto.FLOAT, None))
    assert "the graph output 'l0.Y_h' is not the layer's output, h_n or c_n: the ops before it drop some of its " \
           "values" in refusal(tmp_path, model, STACK)


def test_a_cast_that_changes_the_values_is_refused(tmp_path):
    from onnx import TensorProto, helper

    model, _ = written(tmp_path, LSTM)
    model.graph.node.insert(0, helper.make_node("Cast", ["X"], ["half"], to=TensorProto.FLOAT16))
    model.graph.node.insert(1, helper.make_node("Cast", ["half"], ["back"], to=TensorProto.FLOAT))
    recurrent(model)[0].input[0] = "back"
    assert "Cast casts the layer's data from FLOAT to FLOAT16, which changes its values" in \
        refusal(tmp_path, model, LSTM)


@pytest.mark.parametrize("spec", [RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True, layout="NTC"),
                                  RNNSpec("rnn_tanh", 2, 3, num_layers=3, layout="NTC")], ids=["gru", "rnn"])
def test_batch_major_models_read_with_either_node_layout(tmp_path, spec):
    """An NTC layer's file transposes at its boundary (layout 0) or runs layout=1 nodes: both are the stack."""
    from rnn_ref.adapters.onnx_model import build_model, onnx_mapping
    from rnn_ref.onnx_file import read_file

    params = Params.random(spec, seed=3, dtype=np.float32)
    for node_layout in (0, 1):
        model = build_model(spec, onnx_mapping("onnx", spec).to_native(params), node_layout=node_layout)
        (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
        _, layer, interface = read_file(tmp_path / "m.onnx", spec)
        assert (interface.layout, layer.layouts) == ("NTC", (node_layout,) * spec.num_layers)
        assert read_params("onnx", tmp_path / "m.onnx", spec).equal(params)


def test_the_refusal_is_one_line_on_the_command_line(tmp_path, capsys):
    from onnx import helper, numpy_helper

    model, _ = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(np.array([0, 0, 1], np.int64), "repeat"))
    model.graph.node.insert(0, helper.make_node("Gather", ["X", "repeat"], ["Xr"], axis=2))
    recurrent(model)[0].input[0] = "Xr"
    refusal(tmp_path, model, LSTM)
    code = main(["convert", "--from", "onnx", "--to", "canonical", "--mode", "lstm", str(tmp_path / "edited.onnx"),
                 str(tmp_path / "out.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "out.npz").exists()
    assert err.startswith("rnn-ref convert: error: ") and "the ops between them repeat some of its values and drop others" in err


def test_a_squeeze_without_axes_is_refused_as_it_breaks_a_batch_of_one(tmp_path):
    """Identity at the sizes most graphs are tried with, but a batch of 1 loses its axis: the proof tries N=1."""
    from onnx import helper

    model, _ = written(tmp_path, LSTM)
    model.graph.node.insert(0, helper.make_node("Squeeze", ["X"], ["Xs"]))
    recurrent(model)[0].input[0] = "Xs"
    assert "LSTM 'l0' does not read the graph input as it is: the ops between them reshape it (shape (2, 3), " \
           "not (1, 2, 3)) at an input of shape (1, 2, 3)" in refusal(tmp_path, model, LSTM)


def fixed_size_model(tmp_path, steps=5, batch=2):
    """rnn-ref's own file with X's time and batch fixed in its type and a Reshape to those sizes, as torch's
    exporter writes them (static shapes)."""
    import onnx
    from onnx import numpy_helper

    model, params = written(tmp_path, STACK)
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, (steps, batch), strict=False):
        dim.Clear()
        dim.dim_value = size
    flatten = next(t for t in model.graph.initializer if t.name == "flatten")
    flatten.CopyFrom(numpy_helper.from_array(np.array([steps, batch, 8], np.int64), "flatten"))
    onnx.save(model, tmp_path / "fixed.onnx")
    return tmp_path / "fixed.onnx", params


def test_a_file_with_fixed_sizes_reads_at_those_sizes(tmp_path):
    from rnn_ref.onnx_file import read_file

    path, params = fixed_size_model(tmp_path)
    _, _, interface = read_file(path, STACK)
    assert (interface.steps, interface.batch, interface.layout) == (5, 2, "TNC")
    assert read_params("onnx", path, STACK).equal(params)


def test_verify_runs_a_file_with_fixed_sizes_at_those_sizes(tmp_path, capsys):
    path, _ = fixed_size_model(tmp_path)
    code = main(["convert", "--from", "onnx", "--to", "torch", "--mode", "lstm", "--layers", "2", "--bidirectional",
                 "--verify", str(path), str(tmp_path / "torch.npz")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "seeded inputs (seed 0): T=5, N=2" in out
    assert "note: the source file's graph input fixes T=5, N=2: the inputs have those sizes" in out
