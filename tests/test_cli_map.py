"""`rnn-ref map`: the weight-mapping lookup, straight from the rows the equivalence tests prove.

It needs no framework (this module runs in the NumPy-only env).
"""

from __future__ import annotations

import json

import pytest

from rnn_ref.adapters import ENGINES
from rnn_ref.cli import main

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_torch_lstm_table(capsys):
    code, out, _ = run(capsys, "map", "torch", "--mode", "lstm", "--layers", "2", "--bidirectional", "--proj-size", "2")
    assert code == 0
    assert out.startswith("torch: lstm, 2 layer(s), bidirectional, projection\nsizes: I input, H hidden, P projection")
    assert "weight_ih_l0  (4H, I)" in out
    assert "    [H:2H]       = l0.fwd.w_ih.f\n" in out
    assert "weight_ih_l1  (4H, 2P)" in out  # layer 1 reads both projected directions
    assert "weight_hr_l1_reverse  (P, H)\n    (all)        = l1.bwd.w_proj" in out


def test_concrete_sizes(capsys):
    code, out, _ = run(capsys, "map", "keras", "--mode", "gru", "--input-size", "3", "--hidden-size", "4")
    assert code == 0
    assert out.splitlines()[1] == "sizes: I=3 H=4"
    assert "rnn.cell.kernel  (3, 12)\n    [:, 0:4]     = l0.fwd.w_ih.z (transposed)" in out
    assert "rnn.cell.bias  (2, 12)\n    [0, 0:4]     = l0.fwd.b_ih.z" in out


def test_keras_single_bias_is_the_sum(capsys):
    _, out, _ = run(capsys, "map", "keras", "--mode", "lstm")
    assert "    [H:2H]       = l0.fwd.b_ih.f + l0.fwd.b_hh.f\n" in out


def test_native_to_native(capsys):
    code, out, _ = run(capsys, "map", "torch", "--mode", "lstm", "--to", "keras")
    assert code == 0
    assert out.startswith("keras <- torch: lstm")
    assert "rnn.cell.kernel[:, 0:H]\n  = weight_ih_l0[0:H] (transposed)" in out
    assert "rnn.cell.bias[0:H]\n  = bias_ih_l0[0:H]\n  + bias_hh_l0[0:H]" in out


def test_native_to_native_from_one_bias(capsys):
    _, out, _ = run(capsys, "map", "keras", "--mode", "rnn_tanh", "--to", "gluon")
    assert "l0_i2h_bias[0:H]\n  = rnn.cell.bias[0:H]\n    (keras keeps one bias, b_ih + b_hh: all" in out
    assert "l0_h2h_bias[0:H]\n  = 0\n" in out


@pytest.mark.parametrize("sizes", [[], ["--input-size", "300", "--hidden-size", "1024"]], ids=["symbolic", "large"])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_view_fits_an_80_column_terminal(capsys, engine, sizes):
    for mode in MODES:
        for other in [None, *ENGINES]:
            argv = ["map", engine, "--mode", mode, "--layers", "2", "--bidirectional", *sizes]
            code, out, err = run(capsys, *argv, *(["--to", other] if other else []))
            if code == 2:  # a layer one of the two engines cannot express: said so, nothing else printed
                assert "cannot express" in err and out == ""
                continue
            assert code == 0, err
            too_wide = [line for line in out.splitlines() if len(line) > 80]
            assert not too_wide, (argv, other, too_wide[:3])


def test_json_schema(capsys):
    code, out, _ = run(capsys, "map", "gluon", "--mode", "lstm", "--layers", "2", "--proj-size", "2",
                       "--input-size", "3", "--hidden-size", "5", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"engine", "spec", "symbolic", "parameters"}
    assert data["engine"] == "gluon" and data["symbolic"] is False
    assert data["spec"]["proj_size"] == 2
    first = data["parameters"][0]
    assert first["name"] == "l0_i2h_weight" and first["shape"] == [20, 3]
    assert first["blocks"][1] == {"region": "[5:10]", "canonical": ["l0.fwd.w_ih.f"], "layer": 0, "direction": "fwd",
                                  "kind": "w_ih", "gate": "f", "transpose": False, "combine": "copy"}
    names = [p["name"] for p in data["parameters"]]
    assert "l1_h2r_weight" in names


def test_json_pairs(capsys):
    _, out, _ = run(capsys, "map", "keras", "--mode", "gru", "--to", "torch", "--format", "json")
    data = json.loads(out)
    assert (data["from"], data["to"], data["symbolic"]) == ("keras", "torch", True)
    first = data["pairs"][0]
    assert first == {"target": {"name": "weight_ih_l0", "region": "[0:H]"},
                     "sources": [{"name": "rnn.cell.kernel", "region": "[:, H:2H]", "transpose": True}], "note": None}


def test_markdown(capsys):
    _, out, _ = run(capsys, "map", "torch", "--mode", "gru", "--format", "markdown")
    assert "| `weight_ih_l0` | (3H, I) | `[0:H]` | `l0.fwd.w_ih.r` |  | copy |" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["map", "tensorflow", "--mode", "lstm"], "unknown engine 'tensorflow'; known: torch, torch-cell, keras"),
        (["map", "keras", "--mode", "lstm", "--proj-size", "2"], "keras cannot express this lstm layer: Keras LSTMCell has no projection"),
        (["map", "torch", "--mode", "gru", "--gru-variant", "reset_before"], "torch cannot express this gru layer"),
        (["map", "torch", "--mode", "lstm", "--to", "gluon", "--no-bias"], "gluon cannot express this lstm layer"),
        (["map", "torch", "--mode", "gru", "--proj-size", "2"], "proj_size=2 is only allowed for mode='lstm'"),
        (["map", "torch", "--mode", "lstm", "--proj-size", "-3"], "proj_size=-3 must be an int >= 0"),
        (["map", "torch", "--mode", "lstm", "--input-size", "3"], "give both --input-size and --hidden-size"),
        (["map", "torch", "--mode", "lstm", "--layers", "0"], "num_layers=0 must be an int >= 1"),
    ],
    ids=["unknown-engine", "keras-projection", "torch-reset-before", "gluon-no-bias", "gru-projection", "negative-projection",
         "one-size", "zero-layers"],
)
def test_what_an_engine_cannot_express_exits_2_with_the_reason(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err
