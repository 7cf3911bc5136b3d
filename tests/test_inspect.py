"""`rnn-ref inspect FILE`: the recurrent layers of a model file, NumPy alone (.npz of named arrays).

The framework files themselves (.pt, .keras, .weights.h5, .params, .onnx, .msgpack) are made
and inspected in their engines' envs: tests/test_inspect_frameworks.py. Here the names the
frameworks give their parameters (as the families' docstrings state them) are written into
an .npz, and the command's table, JSON and one-line refusals are checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_ref.cli import main
from rnn_ref.core.inspection import JSON_KEYS, FoundLayer, Open, chain_stacks, same_kind


def write_npz(path, shapes):
    np.savez(path, **{name: np.zeros(shape, np.float32) for name, shape in shapes.items()})
    return path


def torch_lstm_names(prefix, inputs, hidden, layers, bidirectional, proj=0):
    """The state_dict names and shapes of torch.nn.LSTM (4 gates: G·H = 4H rows)."""
    shapes = {}
    for k in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            below = inputs if k == 0 else (2 if bidirectional else 1) * (proj or hidden)
            shapes[f"{prefix}weight_ih_l{k}{suffix}"] = (4 * hidden, below)
            shapes[f"{prefix}weight_hh_l{k}{suffix}"] = (4 * hidden, proj or hidden)
            shapes[f"{prefix}bias_ih_l{k}{suffix}"] = (4 * hidden,)
            shapes[f"{prefix}bias_hh_l{k}{suffix}"] = (4 * hidden,)
            if proj:
                shapes[f"{prefix}weight_hr_l{k}{suffix}"] = (proj, hidden)
    return shapes


def inspect_json(path, capsys):
    assert main(["inspect", "--format", "json", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_seq2seq_state_dict_lists_both_lstms(tmp_path, capsys):
    shapes = {"emb.weight": (50, 8), **torch_lstm_names("encoder.lstm.", 8, 16, 2, True),
              **torch_lstm_names("decoder.lstm.", 8, 16, 1, False, proj=4), "fc.weight": (3, 4)}
    found = inspect_json(write_npz(tmp_path / "s2s.npz", shapes), capsys)
    assert [tuple(item) for item in found] == [JSON_KEYS, JSON_KEYS]
    by_location = {item["location"]: item for item in found}
    assert by_location["encoder.lstm"] == {"location": "encoder.lstm", "mode": "lstm", "input_size": 8,
                                           "hidden_size": 16, "num_layers": 2, "bidirectional": True,
                                           "proj_size": 0, "gru_variant": None, "bias": True, "undetermined": []}
    assert by_location["decoder.lstm"]["proj_size"] == 4
    assert by_location["decoder.lstm"]["hidden_size"] == 16
    assert by_location["decoder.lstm"]["bidirectional"] is False


def test_a_plain_rnn_leaves_its_nonlinearity_open_and_names_the_flag(tmp_path, capsys):
    shapes = {"rnn.weight_ih_l0": (5, 3), "rnn.weight_hh_l0": (5, 5)}  # G = 1: one block of H = 5
    found = inspect_json(write_npz(tmp_path / "rnn.npz", shapes), capsys)
    assert found[0]["mode"] is None and found[0]["bias"] is False
    assert found[0]["undetermined"][0]["field"] == "mode"
    assert found[0]["undetermined"][0]["flag"] == "--mode"
    assert found[0]["undetermined"][0]["values"] == ["rnn_tanh", "rnn_relu"]
    main(["inspect", str(tmp_path / "rnn.npz")])
    table = capsys.readouterr().out
    assert "undetermined mode: --mode rnn_tanh|rnn_relu" in table


def test_gluon_collect_params_names_in_an_npz(tmp_path, capsys):
    # Gluon rnn.GRU(6, input_size=4, bidirectional=True): {prefix}{l|r}{k}_{i2h|h2h}_{weight|bias}, G·H = 18
    shapes = {f"net0_gru0_{side}0_{kind}_{what}": shape for side in "lr"
              for kind, what, shape in (("i2h", "weight", (18, 4)), ("h2h", "weight", (18, 6)),
                                        ("i2h", "bias", (18,)), ("h2h", "bias", (18,)))}
    found = inspect_json(write_npz(tmp_path / "g.npz", shapes), capsys)
    assert [(f["location"], f["mode"], f["gru_variant"], f["input_size"], f["hidden_size"], f["bidirectional"])
            for f in found] == [("net0_gru0", "gru", "reset_after", 4, 6, True)]


def test_flax_nnx_names_in_an_npz(tmp_path, capsys):
    # nnx.Bidirectional(nnx.RNN(nnx.LSTMCell(3, 5)), ...): per-gate kernels (in, out), recurrent biases
    shapes = {}
    for half in ("forward_rnn", "backward_rnn"):
        for gate in ("ii", "if_", "ig", "io"):
            shapes[f"bi.{half}.cell.{gate}.kernel"] = (3, 5)
        for gate in ("hi", "hf", "hg", "ho"):
            shapes[f"bi.{half}.cell.{gate}.kernel"] = (5, 5)
            shapes[f"bi.{half}.cell.{gate}.bias"] = (5,)
    found = inspect_json(write_npz(tmp_path / "f.npz", shapes), capsys)
    assert [(f["location"], f["mode"], f["input_size"], f["hidden_size"], f["bidirectional"]) for f in found] == \
        [("bi", "lstm", 3, 5, True)]


@pytest.mark.parametrize("case", ["missing", "no-recurrent-layer", "unknown-suffix", "truncated-npz", "directory"])
def test_bad_input_is_one_line_and_exit_code_2(case, tmp_path, capsys):
    path = {"missing": tmp_path / "absent.npz", "no-recurrent-layer": tmp_path / "dense.npz",
            "unknown-suffix": tmp_path / "model.bin", "truncated-npz": tmp_path / "cut.npz",
            "directory": tmp_path}[case]
    if case == "no-recurrent-layer":
        write_npz(path, {"fc.weight": (3, 4), "fc.bias": (3,)})
    elif case == "unknown-suffix":
        path.write_bytes(b"weights")
    elif case == "truncated-npz":
        data = write_npz(tmp_path / "whole.npz", torch_lstm_names("", 3, 4, 1, False)).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-ref inspect: error: "), captured.err
    expected = {"missing": "no such file", "no-recurrent-layer": "no recurrent layer", "unknown-suffix":
                "this suffix is none of them", "truncated-npz": "not a readable", "directory": "directory"}[case]
    assert expected in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_the_stack_checker_refuses_levels_that_do_not_chain():
    lower = FoundLayer("a", "lstm", 3, 4, bidirectional=True)
    assert same_kind(lower, FoundLayer("b", "lstm", 8, 4, bidirectional=True))  # reads D·H = 8 features
    assert not same_kind(lower, FoundLayer("b", "lstm", 4, 4, bidirectional=True))  # a wrong input size
    assert not same_kind(lower, FoundLayer("b", "gru", 8, 4, bidirectional=True))  # another cell
    assert not same_kind(lower, FoundLayer("b", "lstm", 8, 4, bidirectional=True,
                                           undetermined=(Open("mode", "--mode", "why"),)))
    assert [f.location for f in chain_stacks([lower, FoundLayer("b", "lstm", 8, 4, bidirectional=True),
                                              FoundLayer("c", "lstm", 4, 4, bidirectional=True)])] == ["a+b", "c"]
    assert chain_stacks([lower, FoundLayer("b", "lstm", 8, 4, bidirectional=True)], lambda a, b: False)[0] == lower


def test_a_layer_of_other_shapes_is_refused_before_anything_is_written_naming_each_parameter():
    from rnn_ref.core.errors import ParamsError
    from rnn_ref.core.inspection import check_named_shapes

    same = {"weight_ih_l0": (16, 3), "weight_hh_l0": (16, 4)}
    check_named_shapes("m.pt", "lstm", same, dict(same))  # the same shapes: nothing to say
    with pytest.raises(ParamsError) as refused:
        check_named_shapes("m.pt", "lstm", same, {"weight_ih_l0": (16, 5), "weight_hh_l0": (16, 4), "bias": (16,)})
    assert str(refused.value) == ("m.pt: the layer at 'lstm' does not take the converted weights (bias: None in the "
                                  "file, (16,) converted; weight_ih_l0: (16, 3) in the file, (16, 5) converted)")
