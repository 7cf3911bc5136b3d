"""`rnn-ref convert` between canonical .npz and the engines' .npz formats (NumPy only).

Engine-specific formats (.pt, .params) and running converted weights on real engines are in
test_convert_engines.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import ENGINES, adapter_object
from rnn_ref.cli import main
from rnn_ref.conversion.convert import read_params, write_params

SPEC = RNNSpec("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
LAYER_ARGS = ["--mode", "lstm", "--layers", "2", "--bidirectional"]


def convert(capsys, source, target, in_path, out_path, *extra):
    code = main(["convert", "--from", source, "--to", target, *LAYER_ARGS, *extra, str(in_path), str(out_path)])
    out, err = capsys.readouterr()
    return code, out, err


def lossless(engine: str, spec: RNNSpec) -> bool:
    return not any(row.combine == "sum" for row in adapter_object(engine).mapping(spec).rows)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_engine_to_canonical_to_engine_is_bit_exact(tmp_path, capsys, engine):
    params = Params.random(SPEC, seed=3)
    write_params(engine, tmp_path / "a.npz", params)
    assert convert(capsys, engine, "canonical", tmp_path / "a.npz", tmp_path / "c.npz")[0] == 0
    assert convert(capsys, "canonical", engine, tmp_path / "c.npz", tmp_path / "b.npz")[0] == 0
    with np.load(tmp_path / "a.npz") as before, np.load(tmp_path / "b.npz") as after:
        assert before.files == after.files
        for name in before.files:
            assert before[name].dtype == after[name].dtype
            np.testing.assert_array_equal(before[name], after[name])


@pytest.mark.parametrize("engine", [e for e in ENGINES if lossless(e, SPEC)])
def test_canonical_through_a_two_bias_engine_is_bit_exact(tmp_path, capsys, engine):
    params = Params.random(SPEC, seed=4, dtype=np.float32)
    params.save(tmp_path / "p.npz")
    convert(capsys, "canonical", engine, tmp_path / "p.npz", tmp_path / "native.npz")
    convert(capsys, engine, "canonical", tmp_path / "native.npz", tmp_path / "back.npz")
    assert Params.load(tmp_path / "back.npz", SPEC).equal(params)


def test_through_keras_the_two_biases_become_their_sum(tmp_path, capsys):
    params = Params.random(SPEC, seed=5)
    write_params("torch", tmp_path / "torch.npz", params)
    code, out, _ = convert(capsys, "torch", "keras", tmp_path / "torch.npz", tmp_path / "keras.npz")
    assert code == 0 and "keras keeps one bias per gate: b_ih + b_hh were summed" in out
    convert(capsys, "keras", "torch", tmp_path / "keras.npz", tmp_path / "again.npz")
    with np.load(tmp_path / "torch.npz") as before, np.load(tmp_path / "again.npz") as after:
        np.testing.assert_array_equal(after["weight_hh_l1_reverse"], before["weight_hh_l1_reverse"])
        np.testing.assert_array_equal(after["bias_ih_l0"], before["bias_ih_l0"] + before["bias_hh_l0"])
        assert not after["bias_hh_l0"].any()


def test_keras_npz_is_get_weights_order(tmp_path):
    params = Params.random(SPEC, seed=6)
    write_params("keras", tmp_path / "k.npz", params)
    with np.load(tmp_path / "k.npz") as archive:
        assert archive.files == [f"arr_{i}" for i in range(12)]  # 2 levels x 2 directions x 3 arrays
        np.testing.assert_array_equal(archive["arr_0"][:, 4:8], params["l0.fwd.w_ih.f"].T)  # kernel, gate f
        np.testing.assert_array_equal(archive["arr_4"], np.concatenate([params[f"l0.bwd.w_hh.{g}"] for g in "ifgo"]).T)


def test_sizes_are_read_off_the_file(tmp_path):
    spec = RNNSpec("gru", input_size=7, hidden_size=2, num_layers=3)
    write_params("gluon", tmp_path / "g.npz", Params.random(spec))
    placeholder = spec.replace(input_size=1, hidden_size=1)
    assert read_params("gluon", tmp_path / "g.npz", placeholder, infer=True).spec == spec


def test_a_file_that_does_not_match_lists_the_names_and_writes_nothing(tmp_path, capsys):
    native = adapter_object("torch").mapping(SPEC).to_native(Params.random(SPEC))
    del native["bias_hh_l1"]
    native["weight_ih_l0"] = native["weight_ih_l0"][:, :2]
    native["weight_ih_l2"] = np.zeros((16, 8))
    np.savez(tmp_path / "bad.npz", **native)
    code, out, err = convert(capsys, "torch", "canonical", tmp_path / "bad.npz", tmp_path / "out.npz",
                             "--input-size", "3", "--hidden-size", "4")
    assert code == 2 and out == ""
    assert "missing: bias_hh_l1" in err
    assert "unexpected: weight_ih_l2" in err
    assert "weight_ih_l0: expected shape (16, 3), got (16, 2)" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.npz"]


def test_sizes_that_fit_no_layer_are_reported(tmp_path, capsys):
    Params.random(SPEC).save(tmp_path / "c.npz")
    code, _, err = main(["convert", "--from", "canonical", "--to", "torch", "--mode", "gru", str(tmp_path / "c.npz"),
                         str(tmp_path / "t.npz")]), *capsys.readouterr()
    assert code == 2
    assert "missing keys: l0.fwd.w_ih.r" in err and "unexpected keys: l0.bwd.b_hh.f" in err
    assert "sizes were read off the file as the closest fit" in err


def test_pickled_arrays_are_refused(tmp_path, capsys):
    np.savez(tmp_path / "evil.npz", **{"l0.fwd.w_ih.i": np.array([object()], dtype=object)})
    code, _, err = convert(capsys, "canonical", "torch", tmp_path / "evil.npz", tmp_path / "out.npz",
                           "--input-size", "3", "--hidden-size", "4")
    assert code == 2 and "evil.npz: not a readable .npz file" in err and "allow_pickle" in err
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "onnx-tf", "--to", "torch"], "unknown engine 'onnx-tf'"),
        (["--from", "canonical", "--to", "keras", "--proj-size", "2"], "keras cannot express this lstm layer"),
        (["--from", "canonical", "--to", "torch"], "no such file"),
    ],
    ids=["unknown-engine", "keras-projection", "missing-file"],
)
def test_usage_errors_exit_2(tmp_path, capsys, argv, message):
    Params.random(SPEC.replace(proj_size=2) if "--proj-size" in argv else SPEC).save(tmp_path / "c.npz")
    source = tmp_path / ("c.npz" if "no such" not in message else "missing.npz")
    code = main(["convert", *argv, *LAYER_ARGS, "--input-size", "3", "--hidden-size", "4", str(source),
                 str(tmp_path / "out.npz")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out.npz").exists()


def test_a_file_of_another_layer_lists_names_even_when_sizes_are_inferred(tmp_path, capsys):
    write_params("torch", tmp_path / "uni.npz", Params.random(SPEC.replace(bidirectional=False)))
    code, _, err = convert(capsys, "torch", "canonical", tmp_path / "uni.npz", tmp_path / "c.npz")  # declared bi
    assert code == 2
    assert "missing: weight_ih_l0_reverse" in err and "weight_ih_l1: expected shape (16, 8), got (16, 4)" in err


def test_projection_size_is_kept_when_sizes_are_inferred(tmp_path, capsys):
    spec = SPEC.replace(proj_size=2)
    write_params("torch", tmp_path / "p.npz", Params.random(spec))
    assert convert(capsys, "torch", "canonical", tmp_path / "p.npz", tmp_path / "c.npz", "--proj-size", "2")[0] == 0
    assert Params.load(tmp_path / "c.npz", spec).spec.proj_size == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.astype(np.float16), "weight_hh_l0: expected float32 or float64, got float16"),
        (lambda a: np.full_like(a, np.nan), "weight_hh_l0: contains NaN or Inf"),
        (lambda a: a.astype(np.float32), "arrays mix float32 and float64"),
    ],
    ids=["float16", "nan", "mixed"],
)
def test_bad_values_in_a_native_file_are_named_by_native_name(tmp_path, capsys, change, message):
    native = adapter_object("torch").mapping(SPEC).to_native(Params.random(SPEC))
    native["weight_hh_l0"] = change(native["weight_hh_l0"])
    np.savez(tmp_path / "t.npz", **native)
    code, _, err = convert(capsys, "torch", "canonical", tmp_path / "t.npz", tmp_path / "c.npz",
                           "--input-size", "3", "--hidden-size", "4")
    assert code == 2 and message in err
    assert err.count("\n  ") == 1  # one line for the one bad array, not one per canonical block


def test_output_files_are_ordinary_files(tmp_path):
    import os
    import stat

    write_params("canonical", tmp_path / "c.npz", Params.random(SPEC))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "c.npz").stat().st_mode) == 0o666 & ~umask


def test_a_missing_output_folder_is_named(tmp_path, capsys):
    Params.random(SPEC).save(tmp_path / "c.npz")
    code, _, err = convert(capsys, "canonical", "torch", tmp_path / "c.npz", tmp_path / "no" / "t.npz")
    assert code == 2 and "the folder" in err and "does not exist" in err


def test_a_framework_format_without_its_framework_says_how_to_get_it(tmp_path, capsys):
    from rnn_ref.adapters import ENGINES

    if ENGINES["gluon"].installed():
        pytest.skip("mxnet is installed in this env; the message is for envs without it (tox -e ref)")
    Params.random(SPEC).save(tmp_path / "c.npz")
    code, _, err = convert(capsys, "canonical", "gluon", tmp_path / "c.npz", tmp_path / "g.params")
    assert code == 2 and ".params files need mxnet (pip install 'rnn-ref[mxnet]' or use tox -e mxnet)" in err


def test_a_keras_file_with_the_wrong_number_of_arrays(tmp_path, capsys):
    np.savez(tmp_path / "k.npz", np.zeros((3, 16)), np.zeros((4, 16)))
    code, _, err = convert(capsys, "keras", "torch", tmp_path / "k.npz", tmp_path / "t.npz",
                           "--input-size", "3", "--hidden-size", "4")
    assert code == 2 and "expected 12 arrays" in err


def test_the_suffix_must_fit_the_engine(tmp_path, capsys):
    Params.random(SPEC).save(tmp_path / "c.npz")
    code, _, err = convert(capsys, "canonical", "keras", tmp_path / "c.npz", tmp_path / "k.h5")
    assert code == 2 and "a keras weight file must end in .npz" in err


@pytest.mark.parametrize(("saved", "structural"), [
    ("_unfused.1.r_cell.i2h_weight", "r1_i2h_weight"),  # fused layer, bidirectional
    ("0.l_cell.h2h_bias", "l0_h2h_bias"),  # SequentialRNNCell of BidirectionalCells
    ("_unfused.0.h2r_weight", "l0_h2r_weight"),  # unidirectional, projection
    ("2.i2h_bias", "l2_i2h_bias"),
    ("embedding0_weight", "embedding0_weight"),  # not a recurrent parameter: unchanged
])
def test_gluon_save_parameters_keys_name_the_structural_parameters(saved, structural):
    """Gluon's save_parameters renames keys; size inference reads .params shapes under the rows' names."""
    from rnn_ref.adapters.mxnet.files import gluon_structural_name

    assert gluon_structural_name(saved) == structural


def test_a_count_error_under_size_inference_shows_no_placeholder_sizes(tmp_path, capsys):
    """The sizes are still unknown when the arrays are counted: the message says so instead of
    showing the placeholder input_size=1, hidden_size=1 (K06, K08b, HX2)."""
    write_params("keras", tmp_path / "k.npz", Params.random(SPEC))
    with np.load(tmp_path / "k.npz") as archive:
        np.savez(tmp_path / "k13.npz", *[archive[f"arr_{i}"] for i in range(12)], np.zeros(3))
    code, _, err = convert(capsys, "keras", "torch", tmp_path / "k13.npz", tmp_path / "t.npz")
    assert code == 2 and "expected 12 arrays (get_weights of RNNSpec(mode='lstm', num_layers=2" in err
    assert "of any input and hidden size), got 13" in err and "input_size=1" not in err


def test_size_inference_names_both_sides_when_the_arrays_disagree_evenly(tmp_path, capsys):
    """weight_ih_l0 says I=5, weight_ih_l0_reverse I=3: neither is more believable, so the file
    is refused naming both, not blamed on whichever came second (T10)."""
    native = adapter_object("torch").mapping(SPEC).to_native(Params.random(SPEC))
    native["weight_ih_l0"] = np.zeros((16, 5))
    np.savez(tmp_path / "t.npz", **native)
    code, _, err = convert(capsys, "torch", "canonical", tmp_path / "t.npz", tmp_path / "c.npz")
    assert code == 2 and "its arrays disagree on the input size, and no reading has a majority: " in err
    assert "weight_ih_l0 say 5; weight_ih_l0_reverse say 3" in err


def test_size_inference_blames_the_array_that_disagrees_with_the_others(tmp_path, capsys):
    native = adapter_object("torch").mapping(SPEC).to_native(Params.random(SPEC))
    native["weight_hh_l1"] = np.zeros((16, 7))
    np.savez(tmp_path / "t.npz", **native)
    code, _, err = convert(capsys, "torch", "canonical", tmp_path / "t.npz", tmp_path / "c.npz")
    assert code == 2 and "weight_hh_l1: expected shape (16, 4), got (16, 7)" in err
    assert err.count("expected shape") == 1
