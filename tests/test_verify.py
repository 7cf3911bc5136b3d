"""`rnn-ref convert --verify`: the written file computes what the source file computes, or the command fails.

Each side runs on its real framework where installed, else on the reference fed with that
file's canonical reading; the NumPy-only tests below take the second path on both sides, the
engine tests (torch -> keras, gluon -> torch) the first on the side whose framework the env has.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnn_ref.conversion.convert
import rnn_ref.conversion.verify
from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import engine_info
from rnn_ref.cli import main
from rnn_ref.conversion.convert import write_params
from rnn_ref.conversion.verify import verify_conversion

SPEC = RNNSpec("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
LAYER_ARGS = ["--mode", "lstm", "--layers", "2", "--bidirectional"]


def convert_and_verify(capsys, source, target, in_path, out_path):
    code = main(["convert", "--from", source, "--to", target, *LAYER_ARGS, "--verify", str(in_path), str(out_path)])
    out, err = capsys.readouterr()
    return code, out, err


def source_file(engine: str, path, seed: int = 0):
    write_params(engine, path, Params.random(SPEC, seed=seed, dtype=np.float32))
    return path


def tensor_lines(out: str) -> dict[tuple[str, str], str]:
    """{(inputs, tensor): the rest of the line} from the verification table."""
    rows = {}
    for line in out.splitlines():
        for inputs in ("zero state, full lengths", "given state, lengths 7,1,4", "given state, full lengths"):
            if line.strip().startswith(inputs):
                tensor, rest = line.strip()[len(inputs):].split(None, 1)
                rows[(inputs, tensor)] = rest
    return rows


@pytest.mark.parametrize(("source", "target"), [("torch", "keras"), ("gluon", "torch"), ("keras", "gluon-cell")])
def test_a_faithful_conversion_passes_on_numpy_alone(tmp_path, capsys, source, target):
    in_path = source_file(source, tmp_path / f"{source}.npz")
    code, out, err = convert_and_verify(capsys, source, target, in_path, tmp_path / f"{target}.npz")
    assert code == 0, out + err
    rows = tensor_lines(out)
    # Given states and lengths both run where both sides support them (Gluon float32: apache/mxnet#19323).
    given = "given state, lengths 7,1,4" if "given state, full lengths instead" not in out else "given state, full lengths"
    assert set(rows) == {(inputs, tensor) for inputs in ("zero state, full lengths", given)
                         for tensor in ("output", "h_n", "c_n")}
    # Both sides float32 weights, each within the table's float32 bound of the truth: twice that between them.
    assert all(rest.endswith("atol=4e-06, rtol=4e-06") for rest in rows.values())
    assert all(float(rest.split()[0]) < 1e-6 for rest in rows.values())
    assert "verification passed: largest difference" in out
    # Where a framework is installed (an engine env), its side runs on it instead of the reference.
    source_line = next(line for line in out.splitlines() if line.startswith("  source: "))
    assert f"{source}.npz" in source_line
    if not engine_info(source).installed():
        assert source_line == f"  source: the reference fed with {source}.npz's canonical reading as {source} " \
                              f"({engine_info(source).unavailable_reason()})"


def test_a_corrupted_output_fails_verification_and_is_kept(tmp_path, capsys, monkeypatch):
    """A converter bug that writes one wrong array: the command says so, exits 1 and keeps OUT."""
    honest = rnn_ref.conversion.convert.write_npz

    def corrupting(handle, arrays):
        first = next(iter(arrays))
        honest(handle, {**arrays, first: arrays[first] + np.float32(0.05)})

    in_path = source_file("torch", tmp_path / "torch.npz")
    monkeypatch.setattr(rnn_ref.conversion.convert, "write_npz", corrupting)
    code, out, err = convert_and_verify(capsys, "torch", "keras", in_path, tmp_path / "keras.npz")
    assert code == 1
    assert "verification FAILED on c_n, h_n, output" in out
    assert "FAILED" in tensor_lines(out)[("zero state, full lengths", "output")]
    assert f"verification failed; {tmp_path / 'keras.npz'} is kept for inspection" in err
    assert (tmp_path / "keras.npz").is_file()


def test_a_swapped_gate_in_the_written_file_is_caught(tmp_path):
    """verify_conversion compares files as they are on disk: swap two gate blocks of OUT by hand."""
    params = Params.random(SPEC, seed=3, dtype=np.float32)
    write_params("torch", tmp_path / "in.npz", params)
    blocks = dict(params)
    blocks["l1.bwd.w_hh.i"], blocks["l1.bwd.w_hh.f"] = params["l1.bwd.w_hh.f"], params["l1.bwd.w_hh.i"]
    write_params("torch", tmp_path / "out.npz", Params(SPEC, blocks))
    verification = verify_conversion("torch", "torch", params, tmp_path / "in.npz", tmp_path / "out.npz")
    assert not verification.passed
    failed = {(inputs, c.tensor) for inputs, c in verification.comparisons if not c.passed}
    assert ("given state, lengths 7,1,4", "h_n") in failed and ("zero state, full lengths", "output") in failed


def test_an_engine_that_raises_fails_the_verification_with_the_error(tmp_path, capsys, monkeypatch):
    in_path = source_file("gluon", tmp_path / "gluon.npz")

    def broken_forward(*args, **kwargs):
        raise FloatingPointError("overflow in exp")

    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", broken_forward)
    monkeypatch.setattr(rnn_ref.conversion.verify, "engine_info", lambda engine: type("Missing", (), {
        "installed": lambda self: False, "unavailable_reason": lambda self: "its framework is not installed",
        "requires": "its framework"})())  # both sides on the reference
    code, out, err = convert_and_verify(capsys, "gluon", "canonical", in_path, tmp_path / "canonical.npz")
    assert code == 1 and "verification failed" in err
    assert "running it raised FloatingPointError: overflow in exp" in out


#: (the engine whose framework must be here, source, target, IN suffix, OUT suffix)
ON_ENGINES = [
    ("torch", "torch", "keras", ".pt", ".npz"),  # torch runs IN itself; keras through the reference
    ("keras", "torch", "keras", ".npz", ".npz"),  # keras runs OUT itself; torch through the reference
    ("gluon", "gluon", "torch", ".params", ".npz"),  # Gluon runs IN (lengths: its documented limits)
    ("torch", "gluon", "torch", ".npz", ".pt"),  # torch runs OUT itself
]


@pytest.mark.engine
@pytest.mark.parametrize(("needs", "source", "target", "in_suffix", "out_suffix"), ON_ENGINES,
                         ids=[f"{s}-to-{t}-on-{n}" for n, s, t, _, _ in ON_ENGINES])
def test_a_faithful_conversion_passes_on_the_real_framework(tmp_path, capsys, engine_or_skip, needs, source, target,
                                                           in_suffix, out_suffix):
    version = engine_or_skip(needs).version()
    in_path = source_file(source, tmp_path / f"in{in_suffix}", seed=4)
    code, out, err = convert_and_verify(capsys, source, target, in_path, tmp_path / f"out{out_suffix}")
    assert code == 0, out + err
    role = "source" if needs == source else "converted"
    assert f"{role}: {needs} ({version}) running" in out
    assert ("zero state, full lengths", "output") in tensor_lines(out)
    assert "verification passed" in out


# ----------------------------------------------------------------------------- design 2f: run twice, bounded
def test_a_side_whose_second_run_differs_fails_verification_saying_it_keeps_state(tmp_path, monkeypatch):
    """An engine that keeps state between calls: its first run agrees with the source, its second does not."""
    params = Params.random(SPEC, seed=5, dtype=np.float32)
    write_params("torch", tmp_path / "in.npz", params)
    write_params("keras", tmp_path / "out.npz", params)
    honest, calls = rnn_ref.conversion.verify.forward, []

    def stateful(spec, layer_params, x, *args, **kwargs):
        result = honest(spec, layer_params, x, *args, **kwargs)
        if layer_params is params:  # the source side: an honest engine
            return result
        calls.append(1)
        return rnn_ref.conversion.verify.RNNOutput(result.output + 0.01 * (len(calls) - 1), result.h_n, result.c_n)

    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", stateful)
    monkeypatch.setattr(rnn_ref.conversion.verify, "engine_info", lambda engine: type("Missing", (), {
        "installed": lambda self: False, "unavailable_reason": lambda self: "its framework is not installed",
        "requires": "its framework"})())  # both sides on the reference
    verification = verify_conversion("torch", "keras", params, tmp_path / "in.npz", tmp_path / "out.npz")
    assert not verification.passed and verification.unrepeatable == ["converted"]
    out = verification.render()
    assert "converted run twice on 'zero state, full lengths': output differs between the runs by 1.000e-02" in out
    assert out.endswith("verification FAILED: the converted layer gave a different result when run twice on the "
                        "same input (it keeps state between calls), so no run of it can be trusted")


def test_two_runs_that_agree_are_reported(tmp_path, capsys):
    in_path = source_file("torch", tmp_path / "torch.npz")
    code, out, _ = convert_and_verify(capsys, "torch", "gluon", in_path, tmp_path / "gluon.npz")
    assert code == 0
    assert "  run twice: each side ran each input set twice, and the runs agreed (largest difference " in out


def test_a_run_that_returns_no_output_fails_the_verification(tmp_path, capsys, monkeypatch):
    in_path = source_file("gluon", tmp_path / "gluon.npz")
    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", lambda *args, **kwargs: None)
    monkeypatch.setattr(rnn_ref.conversion.verify, "engine_info", lambda engine: type("Missing", (), {
        "installed": lambda self: False, "unavailable_reason": lambda self: "its framework is not installed",
        "requires": "its framework"})())
    code, out, _ = convert_and_verify(capsys, "gluon", "canonical", in_path, tmp_path / "canonical.npz")
    assert code == 1 and "its run returned NoneType, not an RNNOutput" in out


def test_a_run_that_does_not_return_in_time_fails_and_is_not_called_again(tmp_path, monkeypatch):
    import time

    params = Params.random(SPEC, seed=5, dtype=np.float32)
    write_params("torch", tmp_path / "in.npz", params)
    write_params("torch", tmp_path / "out.npz", params)
    calls = []

    def hanging(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)

    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0.05")
    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", hanging)
    monkeypatch.setattr(rnn_ref.conversion.verify, "engine_info", lambda engine: type("Missing", (), {
        "installed": lambda self: False, "unavailable_reason": lambda self: "its framework is not installed",
        "requires": "its framework"})())
    verification = verify_conversion("torch", "torch", params, tmp_path / "in.npz", tmp_path / "out.npz")
    assert not verification.passed and len(calls) == 1
    assert "its run did not return: the source layer's run on 'zero state, full lengths' did not finish within " \
           "0.05 s" in verification.render()


def test_a_layer_that_differs_only_on_long_sequences_fails_the_verification(tmp_path, monkeypatch):
    """The third input set runs T=LONG_STEPS, far above the sizes an .onnx file's glue is proved at."""
    from rnn_ref.core.state import RNNOutput
    from rnn_ref.oracle.forward import forward

    params = Params.random(SPEC, seed=5, dtype=np.float32)
    write_params("canonical", tmp_path / "in.npz", params)
    write_params("canonical", tmp_path / "out.npz", params)

    def long_differs(spec, p, x, *args):
        result = forward(spec, p, x, *args)
        return RNNOutput(result.output + 1, result.h_n, result.c_n) if p is params and x.shape[0] > 8 else result

    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", long_differs)
    verification = verify_conversion("canonical", "canonical", params, tmp_path / "in.npz", tmp_path / "out.npz")
    text = verification.render()
    assert not verification.passed, text
    assert f"zero state, T={rnn_ref.conversion.verify.LONG_STEPS}" in text and "verification FAILED on output" in text


def test_a_side_that_did_not_run_is_reported_as_not_run_not_as_a_different_layer(tmp_path, monkeypatch):
    params = Params.random(SPEC, seed=5, dtype=np.float32)
    write_params("canonical", tmp_path / "in.npz", params)
    write_params("canonical", tmp_path / "out.npz", params)

    def refusing(*args, **kwargs):
        raise RuntimeError("this runtime refuses the file")

    monkeypatch.setattr(rnn_ref.conversion.verify, "forward", refusing)
    text = verify_conversion("canonical", "canonical", params, tmp_path / "in.npz", tmp_path / "out.npz").render()
    last = text.splitlines()[-1]
    assert last.startswith("verification FAILED: on 'zero state, full lengths' the source layer did not run: running "
                           "it raised RuntimeError: this runtime refuses the file"), last
    assert "does not compute what the source layer computes" not in text


# ----------------------------------------------------------------------------- .onnx files: the file itself runs
def needs_onnx(test):
    """Runs where the onnx engine is selected (tox -e onnx); deselected in the NumPy-only env."""
    return pytest.mark.engine(pytest.mark.usefixtures("onnx_selected")(test))


@pytest.fixture
def onnx_selected(engine_or_skip):
    return engine_or_skip("onnx")


def permuted_onnx(tmp_path):
    """An .onnx whose graph reverses the input features before its LSTM: not the layer its weights describe."""
    import onnx
    from onnx import helper, numpy_helper

    write_params("onnx", tmp_path / "good.onnx", Params.random(SPEC, seed=1, dtype=np.float32))
    model = onnx.load(tmp_path / "good.onnx")
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), "perm"))
    model.graph.node.insert(0, helper.make_node("Gather", ["X", "perm"], ["Xp"], axis=2))
    next(n for n in model.graph.node if n.op_type == "LSTM").input[0] = "Xp"
    onnx.save(model, tmp_path / "permuted.onnx")
    return tmp_path / "permuted.onnx"


@needs_onnx
def test_an_onnx_source_runs_as_the_file_itself(tmp_path, capsys):
    in_path = source_file("onnx", tmp_path / "in.onnx")
    code, out, err = convert_and_verify(capsys, "onnx", "torch", in_path, tmp_path / "torch.npz")
    assert code == 0, out + err
    assert "  source: onnx (onnxruntime " in out
    assert "running in.onnx itself (its opset 14, graph input 'X', outputs 'Y', 'Y_h', 'Y_c')" in out
    assert set(tensor_lines(out)) == {("zero state, full lengths", t) for t in ("output", "h_n", "c_n")}
    assert "given state, full lengths: not run (source: in.onnx takes X alone (graph input 'X')" in out


@needs_onnx
def test_a_reader_that_missed_the_glue_is_still_caught_by_running_the_file(tmp_path, capsys, monkeypatch):
    """Were the glue check wrong, --verify must not pass: it runs the file's graph, not the weights read."""
    import rnn_ref.adapters.onnx.glue

    lax = rnn_ref.adapters.onnx.glue.FileInterface("X", "TNC", {"output": "Y", "h_n": "Y_h", "c_n": "Y_c"})
    monkeypatch.setattr(rnn_ref.adapters.onnx.glue, "check_interface", lambda path, model, layer: lax)
    code, out, _ = convert_and_verify(capsys, "onnx", "canonical", permuted_onnx(tmp_path), tmp_path / "c.npz")
    assert code == 1, out
    assert "running permuted.onnx itself" in out and "verification FAILED on c_n, h_n, output" in out


#: every engine that runs an .onnx file itself (the onnx family's runtimes)
ONNX_RUNTIMES = ("onnx", "onnx-reference", "openvino", "openvino-dynamic")


@needs_onnx
def test_without_a_runtime_the_header_says_the_weights_were_verified_not_the_file(tmp_path, capsys, monkeypatch):
    real = rnn_ref.conversion.verify.engine_info

    def without_onnx_runtimes(engine):
        if engine not in ONNX_RUNTIMES:
            return real(engine)
        return type("Missing", (), {"installed": lambda self: False, "requires": "onnx",
                                    "unavailable_reason": lambda self: f"{engine}'s runtime is not installed"})()

    monkeypatch.setattr(rnn_ref.conversion.verify, "engine_info", without_onnx_runtimes)
    in_path = source_file("onnx", tmp_path / "in.onnx")
    code, out, err = convert_and_verify(capsys, "onnx", "canonical", in_path, tmp_path / "c.npz")
    assert code == 0, out + err
    missing = "; ".join(f"{engine}: {engine}'s runtime is not installed" for engine in ONNX_RUNTIMES)
    assert "  source: the reference fed with the weights in.onnx holds, read as onnx -- not in.onnx itself, which " \
           f"nothing here can run ({missing})" in out


@needs_onnx
def test_a_float64_onnx_file_runs_itself_on_the_onnx_reference(tmp_path, capsys):
    """onnxruntime's CPU kernels have no float64 LSTM: the file runs on onnx.reference, and the header says why."""
    write_params("onnx", tmp_path / "in.onnx", Params.random(SPEC, seed=2, dtype=np.float64))
    code, out, err = convert_and_verify(capsys, "onnx", "canonical", tmp_path / "in.onnx", tmp_path / "c.npz")
    assert code == 0, out + err
    assert "  source: onnx-reference (onnx " in out
    assert "running in.onnx itself (its opset 14, graph input 'X', outputs 'Y', 'Y_h', 'Y_c'; onnx cannot run " \
           "this layer in float64: onnxruntime's CPU provider has no float64 recurrent kernels" in out


@needs_onnx
def test_a_file_of_layout_1_nodes_runs_itself_on_the_onnx_reference(tmp_path, capsys):
    """onnxruntime refuses batch-major nodes; the file still runs itself, on onnx.reference, and the header says why."""
    from rnn_ref.adapters.onnx.model import build_model, onnx_mapping

    spec = RNNSpec("gru", 3, 4, num_layers=2, layout="NTC")
    params = Params.random(spec, seed=2, dtype=np.float32)
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params), node_layout=1)
    (tmp_path / "in.onnx").write_bytes(model.SerializeToString())
    code = main(["convert", "--from", "onnx", "--to", "canonical", "--mode", "gru", "--layers", "2", "--verify",
                 str(tmp_path / "in.onnx"), str(tmp_path / "c.npz")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  source: onnx-reference (onnx " in out and "running in.onnx itself" in out
    assert "onnx cannot run this layer in float32: onnxruntime's CPU kernels refuse layout=1 nodes" in out


@needs_onnx
def test_a_file_that_selects_by_the_inputs_size_is_caught_by_running_it_at_a_longer_sequence(tmp_path, capsys,
                                                                                           monkeypatch):
    """Were the glue rule missed, --verify must still fail: glue that reverses the features only when T > 7 (the
    probe's n1 construction) differs from the layer on the T=LONG_STEPS input set."""
    import onnx
    from onnx import helper, numpy_helper

    import rnn_ref.adapters.onnx.glue

    model = onnx.load(source_file("onnx", tmp_path / "in.onnx"))
    table = np.array([[0, 1, 2]] * 8 + [[2, 1, 0]] * 56, np.int64)
    model.graph.initializer.extend([numpy_helper.from_array(table, "TABLE"),
                                    numpy_helper.from_array(np.array(0, np.int64), "zero")])
    for position, node in enumerate([helper.make_node("Shape", ["X"], ["shape"]),
                                     helper.make_node("Gather", ["shape", "zero"], ["steps"], axis=0),
                                     helper.make_node("Gather", ["TABLE", "steps"], ["order"], axis=0),
                                     helper.make_node("Gather", ["X", "order"], ["Xo"], axis=2)]):
        model.graph.node.insert(position, node)
    next(n for n in model.graph.node if n.op_type == "LSTM").input[0] = "Xo"
    onnx.save(model, tmp_path / "sized.onnx")
    lax = rnn_ref.adapters.onnx.glue.FileInterface("X", "TNC", {"output": "Y", "h_n": "Y_h", "c_n": "Y_c"})
    monkeypatch.setattr(rnn_ref.adapters.onnx.glue, "check_interface", lambda path, model, layer: lax)
    code, out, _ = convert_and_verify(capsys, "onnx", "canonical", tmp_path / "sized.onnx", tmp_path / "c.npz")
    assert code == 1, out
    assert f"zero state, T={rnn_ref.conversion.verify.LONG_STEPS}" in out and "verification FAILED on c_n, h_n, output" in out
