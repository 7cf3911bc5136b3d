"""An .onnx file converts only when its graph computes its recurrent stack and nothing else.

Reading proves the ops around the RNN/LSTM/GRU nodes are the identity (rnn_ref/adapters/onnx/glue.py:
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
from rnn_ref.conversion.convert import read_params, write_params
from rnn_ref.core.errors import ParamsError
from rnn_ref.oracle.forward import forward

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
    from rnn_ref.adapters.onnx.files import read_file
    from rnn_ref.adapters.onnx.model import build_model, onnx_mapping

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
    from rnn_ref.adapters.onnx.files import read_file

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


def size_dependent_reversal(tmp_path):
    """The n1 construction: Gather(X, Gather(TABLE, Shape(X)[0]), axis=2) reverses the features only when T > 7,
    so every size the proof probes sees the identity."""
    from onnx import helper, numpy_helper

    model, params = written(tmp_path, LSTM)
    table = np.array([[0, 1, 2]] * 8 + [[2, 1, 0]] * 24, np.int64)  # row T: the feature order at T steps
    model.graph.initializer.extend([numpy_helper.from_array(table, "TABLE"),
                                    numpy_helper.from_array(np.array(0, np.int64), "zero")])
    model.graph.node.insert(0, helper.make_node("Shape", ["X"], ["shape"]))
    model.graph.node.insert(1, helper.make_node("Gather", ["shape", "zero"], ["steps"], axis=0))
    model.graph.node.insert(2, helper.make_node("Gather", ["TABLE", "steps"], ["order"], axis=0))
    model.graph.node.insert(3, helper.make_node("Gather", ["X", "order"], ["Xo"], axis=2))
    recurrent(model)[0].input[0] = "Xo"
    return model, params


def test_glue_that_selects_values_by_the_inputs_size_is_refused(tmp_path):
    """Design 2f: no set of probe sizes proves such glue, so a value folded from X's shape may decide shapes only."""
    import onnxruntime

    model, params = size_dependent_reversal(tmp_path)
    message = refusal(tmp_path, model, LSTM)
    assert "the glue depends on the input's size: Gather takes its indices from the shape of the layer's data" \
        in message
    session = onnxruntime.InferenceSession(str(tmp_path / "edited.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((12, 2, 3)).astype(np.float32)
    assert np.abs(session.run(None, {"X": x})[0] - forward(LSTM, params, x).output).max() > 1e-3


def test_a_slice_whose_start_is_folded_from_the_inputs_size_is_refused(tmp_path):
    from onnx import helper, numpy_helper

    model, _ = written(tmp_path, LSTM)
    model.graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), name)
                                    for name in ("axes", "first")] +
                                   [numpy_helper.from_array(np.array([2**40], np.int64), "end")])
    model.graph.node.insert(0, helper.make_node("Shape", ["X"], ["shape"]))
    model.graph.node.insert(1, helper.make_node("Slice", ["shape", "first", "end", "axes"], ["steps"]))
    model.graph.node.insert(2, helper.make_node("Slice", ["X", "steps", "end", "axes"], ["Xs"]))  # empty at any T
    recurrent(model)[0].input[0] = "Xs"
    assert "the glue depends on the input's size: Slice takes its starts from the shape of the layer's data" in \
        refusal(tmp_path, model, LSTM)


def test_shapes_folded_from_the_inputs_size_still_read(tmp_path):
    """torch.onnx.export's pattern: Reshape(X, Concat(Shape(X)[0:2], [-1])) and a Slice to Shape(X)[0] decide
    shapes only, the identity at every size."""
    import onnx
    from onnx import helper, numpy_helper

    model, params = written(tmp_path, LSTM)
    model.graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), "zero"),
                                    numpy_helper.from_array(np.array([2], np.int64), "two"),
                                    numpy_helper.from_array(np.array([-1], np.int64), "rest")])
    nodes = [helper.make_node("Shape", ["X"], ["shape"]),
             helper.make_node("Slice", ["shape", "zero", "two", "zero"], ["tn"]),
             helper.make_node("Concat", ["tn", "rest"], ["target"], axis=0),
             helper.make_node("Reshape", ["X", "target"], ["Xr"]),
             helper.make_node("Slice", ["shape", "zero", "two", "zero"], ["tn2"]),
             helper.make_node("Gather", ["tn2", "zero"], ["t"], axis=0),
             helper.make_node("Slice", ["Xr", "zero", "t", "zero"], ["Xs"])]
    for position, node in enumerate(nodes):
        model.graph.node.insert(position, node)
    recurrent(model)[0].input[0] = "Xs"
    onnx.save(model, tmp_path / "shapes.onnx")
    assert read_params("onnx", tmp_path / "shapes.onnx", LSTM).equal(params)


def test_float_gather_indices_are_refused_as_onnx_types_them_integer(tmp_path):
    """onnxruntime refuses such a file; converting it would convert a file that does not run."""
    from onnx import helper, numpy_helper

    model, _ = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(np.array([0.0, 1.0, 2.0], np.float32), "order"))
    model.graph.node.insert(0, helper.make_node("Gather", ["X", "order"], ["Xo"], axis=2))
    recurrent(model)[0].input[0] = "Xo"
    assert "Gather has indices of type float32; ONNX Gather takes integers" in refusal(tmp_path, model, LSTM)


def test_sequence_lengths_of_another_type_than_int32_are_refused(tmp_path):
    from onnx import numpy_helper

    model, _ = written(tmp_path, LSTM)
    model.graph.initializer.append(numpy_helper.from_array(np.array([5, 5], np.int64), "lengths"))
    with_input(recurrent(model)[0], 4, "lengths")
    assert "LSTM 'l0' stores sequence_lens of type int64; ONNX LSTM takes int32" in refusal(tmp_path, model, LSTM)


def test_two_outputs_of_h_n_are_called_h_n(tmp_path):
    from onnx import TensorProto, helper

    model, _ = written(tmp_path, LSTM)
    h_n = next(o.name for o in model.graph.output if o.name != model.graph.output[0].name and "c" not in o.name.lower())
    model.graph.node.append(helper.make_node("Identity", [h_n], ["again"]))
    model.graph.output.append(helper.make_tensor_value_info("again", TensorProto.FLOAT, None))
    assert f"the graph outputs {h_n!r} and 'again' are both h_n" in refusal(tmp_path, model, LSTM)


def test_the_graph_input_as_an_output_is_called_so(tmp_path):
    from onnx import TensorProto, helper

    model, _ = written(tmp_path, LSTM)
    model.graph.output.append(helper.make_tensor_value_info("X", TensorProto.FLOAT, None))
    assert "the graph output 'X' is the graph input 'X' itself, not the layer's output, h_n or c_n" in \
        refusal(tmp_path, model, LSTM)


def test_a_graph_input_too_large_to_follow_is_called_the_graph_input(tmp_path):
    model, _ = written(tmp_path, LSTM)
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, (2**20, 2**10), strict=False):
        dim.Clear()
        dim.dim_value = size
    assert "the graph input 'X' would have the shape (1048576, 1024, 3)" in refusal(tmp_path, model, LSTM)


def test_a_static_export_of_a_large_bidirectional_layer_reads(tmp_path):
    """torch.onnx.export without dynamic axes: X fixed at [200, 64, 256], a bidirectional LSTM 256->256; its Y
    (200, 2, 64, 256) has 6.5 million elements, within the proof's bounds."""
    import onnx

    spec = RNNSpec("lstm", 256, 256, bidirectional=True)
    model, params = written(tmp_path, spec)
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, (200, 64), strict=False):
        dim.Clear()
        dim.dim_value = size
    onnx.save(model, tmp_path / "static.onnx")
    assert read_params("onnx", tmp_path / "static.onnx", spec).equal(params)
