"""`rnn-ref diagnose` on the command line: its two forms, its exit codes, its JSON and its errors (NumPy alone).

Exit 0: no difference; 1: the mistakes were named; 2: nothing explains it — or a usage error,
which prints one line `rnn-ref diagnose: error: ...` and no traceback.
"""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.cli import main
from rnn_ref.conversion.convert import write_params
from rnn_ref.diagnosis import KINDS
from rnn_ref.diagnosis.gates import reorder

SPEC = RNNSpec("lstm", 8, 4, num_layers=2, bidirectional=True)
FLAGS = ["--mode", "lstm", "--layers", "2", "--bidirectional"]


@pytest.fixture
def files(tmp_path):
    """A torch source, and keras targets: correct, with f and g swapped, of unrelated weights."""
    source = Params.random(SPEC, seed=1, dtype=np.float32)
    swapped = Params(SPEC, reorder(SPEC, dict(source), ("i", "g", "f", "o")))
    write_params("torch", tmp_path / "source.npz", source)
    write_params("keras", tmp_path / "good.npz", source)
    write_params("keras", tmp_path / "swapped.npz", swapped)
    write_params("keras", tmp_path / "unrelated.npz", Params.random(SPEC, seed=2, dtype=np.float32))
    x = np.random.default_rng(0).standard_normal((5, 3, 8)).astype(np.float32)
    for name, params in (("good", source), ("swapped", swapped)):
        result = forward(SPEC, params, x)
        np.savez(tmp_path / f"outputs-{name}.npz", x=x, output=result.output.astype(np.float32),
                 h_n=result.h_n.astype(np.float32))
    return tmp_path


def diagnose(capsys, *words) -> tuple[int, str, str]:
    code = main(["diagnose", *map(str, words)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_file_is_no_difference(files, capsys):
    code, out, _ = diagnose(capsys, "--from", "torch", "--to", "keras", *FLAGS, files / "source.npz", files / "good.npz")
    assert code == 0
    assert out.startswith("no difference:")


def test_a_gate_swap_is_named_with_its_residual_and_the_command_that_fixes_it(files, capsys):
    code, out, _ = diagnose(capsys, "--from", "torch", "--to", "keras", *FLAGS,
                            files / "source.npz", files / "swapped.npz")
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == ("  gate-order: the target's LSTM gates are in i,g,f,o order: gates f and g swapped in every "
                        "layer and direction (canonical i,f,g,o)")
    assert lines[2].startswith("residual after undoing it: 0 (tolerance atol 2e-06")
    command = lines[-1].removeprefix("the correct file: ")
    assert command.startswith("rnn-ref convert --from torch --to keras --mode lstm --layers 2 --bidirectional "
                              "--input-size 8 --hidden-size 4 ")
    assert main(shlex.split(command)[1:]) == 0  # the command writes the correct file
    fixed = shlex.split(command)[-1]
    assert fixed.endswith("swapped.fixed.npz")
    capsys.readouterr()
    assert diagnose(capsys, "--from", "torch", "--to", "keras", *FLAGS, files / "source.npz", fixed)[0] == 0


def test_unrelated_weights_exit_2_with_no_finding_and_the_best_candidates_residual(files, capsys):
    code, out, _ = diagnose(capsys, "--from", "torch", "--to", "keras", *FLAGS, "--format", "json",
                            files / "source.npz", files / "unrelated.npz")
    report = json.loads(out)
    assert (code, report["verdict"], report["exit_code"], report["findings"]) == (2, "unexplained", 2, [])
    assert report["residual"] > 0.01
    assert "best_candidate" in report


def test_json_names_documented_kinds_and_the_permutation_per_unit(files, capsys):
    code, out, _ = diagnose(capsys, "--from", "torch", "--to", "keras", *FLAGS, "--format", "json",
                            files / "source.npz", files / "swapped.npz")
    report = json.loads(out)
    assert (code, report["verdict"], report["form"]) == (1, "explained", "weights")
    (finding,) = report["findings"]
    assert finding["kind"] in KINDS
    assert finding["parameters"]["permutation"]["l0.bwd"] == {kind: ["i", "g", "f", "o"] for kind in ("w_ih", "w_hh",
                                                                                                     "b_ih")}
    assert report["convert"].startswith("rnn-ref convert")


def test_the_outputs_form_names_the_gate_swap_and_passes_correct_outputs(files, capsys):
    common = ["--engine", "torch", *FLAGS, files / "source.npz"]
    assert diagnose(capsys, *common, files / "outputs-good.npz")[0] == 0
    code, out, _ = diagnose(capsys, *common, "--format", "json", files / "outputs-swapped.npz")
    report = json.loads(out)
    assert (code, report["form"], [f["kind"] for f in report["findings"]]) == (1, "outputs", ["gate-order"])
    assert report["convert"] is None


def test_help_says_what_each_exit_code_means(capsys):
    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 no difference; 1 the mistakes were named; 2 no mistake in the catalog explains it" in text
    assert "A usage error" in text and "exits 2 too" in text


@pytest.mark.parametrize(("words", "message"), [
    (["--from", "torch", "--engine", "torch"], "give --from A --to B"),
    (["--from", "torch"], "give --from A --to B"),
    ([], "give --from A --to B"),
    (["--from", "torch", "--to", "nosuch"], "unknown engine 'nosuch'"),
    (["--from", "torch", "--to", "keras", "--proj-size", "9"], "proj_size=9 must satisfy"),
], ids=["both-forms", "no-target", "no-form", "unknown-engine", "bad-spec"])
def test_bad_flags_are_one_line_and_exit_2(files, capsys, words, message):
    code, out, err = diagnose(capsys, *words, *FLAGS, files / "source.npz", files / "good.npz")
    assert (code, out) == (2, "")
    assert err.startswith("rnn-ref diagnose: error: ") and message in err and "Traceback" not in err


def test_bad_files_are_one_line_and_exit_2(files, capsys):
    (files / "garbage.npz").write_bytes(b"not a zip")
    np.savez(files / "no-x.npz", output=np.zeros((5, 3, 8), np.float32))
    cases = [
        (["--from", "torch", "--to", "keras", files / "missing.npz", files / "good.npz"], "no such file"),
        (["--from", "torch", "--to", "keras", files / "source.npz", files / "garbage.npz"], "not a readable"),
        (["--from", "torch", "--to", "torch", files / "source.npz", files / "good.npz"], "do not match"),
        (["--engine", "torch", files / "source.npz", files / "no-x.npz"], "missing x"),
        (["--engine", "torch", files / "source.npz", files / "garbage.npz"], "not a readable"),
    ]
    for words, message in cases:
        code, _, err = diagnose(capsys, *FLAGS, *words)
        assert code == 2 and err.startswith("rnn-ref diagnose: error: ") and message in err, (words, err)
        assert "Traceback" not in err


def test_inputs_that_do_not_fit_the_layer_are_a_usage_error(files, capsys):
    np.savez(files / "wrong-x.npz", x=np.zeros((5, 3, 7), np.float32), output=np.zeros((5, 3, 8), np.float32))
    code, _, err = diagnose(capsys, "--engine", "torch", *FLAGS, files / "source.npz", files / "wrong-x.npz")
    assert code == 2 and err.startswith("rnn-ref diagnose: error: ") and "x" in err
