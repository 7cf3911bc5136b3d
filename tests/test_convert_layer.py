"""`rnn-ref convert --layer LOC`: the source layer of a whole model file by its `inspect` location.

NumPy alone: whole-model state_dicts and Gluon parameter sets written as .npz of their names.
The spec comes from the file (flags only confirm it); the result must be the very file that
the explicit flags and `--prefix` write.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.cli import main
from tests.test_inspect import torch_lstm_names


def write_random(path, shapes, seed=0):
    rng = np.random.default_rng(seed)
    # uniform in ±1/4, the scale of the frameworks' own initializers (1/sqrt(H)): N(0, 1) weights saturate the
    # gates, and float32 runs then drift apart beyond the bound over the T=40 input set of --verify (on by default)
    np.savez(path, **{name: rng.uniform(-0.25, 0.25, shape).astype(np.float32) for name, shape in shapes.items()})
    return path


@pytest.fixture
def seq2seq(tmp_path):
    shapes = {"emb.weight": (50, 8), **torch_lstm_names("encoder.lstm.", 8, 16, 2, True),
              **torch_lstm_names("decoder.lstm.", 8, 16, 1, False, proj=4),
              "decoder.rnn.weight_ih_l0": (5, 4), "decoder.rnn.weight_hh_l0": (5, 5), "fc.weight": (3, 4)}
    return write_random(tmp_path / "s2s.npz", shapes)


def arrays(path):
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


@pytest.mark.parametrize(("location", "flags"), [
    ("encoder.lstm", ["--mode", "lstm", "--layers", "2", "--bidirectional"]),
    ("decoder.lstm", ["--mode", "lstm", "--proj-size", "4"]),
])
def test_layer_reads_the_spec_off_the_file(seq2seq, tmp_path, location, flags, capsys):
    assert main(["convert", "--from", "torch", "--to", "canonical", "--layer", location, str(seq2seq),
                 str(tmp_path / "by_layer.npz")]) == 0
    assert main(["convert", "--from", "torch", "--to", "canonical", *flags, "--prefix", f"{location}.",
                 str(seq2seq), str(tmp_path / "by_flags.npz")]) == 0
    by_layer, by_flags = arrays(tmp_path / "by_layer.npz"), arrays(tmp_path / "by_flags.npz")
    assert sorted(by_layer) == sorted(by_flags)
    assert all(np.array_equal(by_layer[name], by_flags[name]) for name in by_flags)
    # flags that agree with the file only confirm it
    assert main(["convert", "--from", "torch", "--to", "canonical", "--layer", location, *flags, str(seq2seq),
                 str(tmp_path / "confirmed.npz")]) == 0


@pytest.mark.parametrize(("extra", "words"), [
    (["--layer", "encoder.lstm", "--layers", "1"], "--layers says num_layers=1, the file num_layers=2"),
    (["--layer", "encoder.lstm", "--mode", "gru"], "--mode says mode='gru', the file mode='lstm'"),
    (["--layer", "decoder.lstm", "--proj-size", "0"], "--proj-size says proj_size=0, the file proj_size=4"),
    (["--layer", "decoder.rnn"], "leaves the mode open"),
    (["--layer", "decoder"], "rnn-ref inspect finds: 'decoder.lstm', 'decoder.rnn', 'encoder.lstm'"),
    (["--layer", "encoder.lstm", "--prefix", "encoder.lstm."], "give --layer or --prefix / --from-prefix, not both"),
    ([], "3 recurrent layers ('decoder.lstm', 'decoder.rnn', 'encoder.lstm'): pick one with --layer LOC"),
    (["--prefix", "a.", "--to-prefix", "b."], "give --prefix (both sides) or --from-prefix / --to-prefix"),
])
def test_layer_refusals_are_one_line_and_write_nothing(seq2seq, tmp_path, extra, words, capsys):
    out = tmp_path / "out.npz"
    assert main(["convert", "--from", "torch", "--to", "canonical", *extra, str(seq2seq), str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not out.exists()


def test_an_open_mode_is_settled_by_its_flag(seq2seq, tmp_path):
    assert main(["convert", "--from", "torch", "--to", "canonical", "--layer", "decoder.rnn", "--mode", "rnn_relu",
                 str(seq2seq), str(tmp_path / "rnn.npz")]) == 0
    assert main(["convert", "--from", "torch", "--to", "canonical", "--mode", "rnn_relu", "--no-bias", "--prefix",
                 "decoder.rnn.", str(seq2seq), str(tmp_path / "explicit.npz")]) == 0
    by_layer, explicit = arrays(tmp_path / "rnn.npz"), arrays(tmp_path / "explicit.npz")
    assert sorted(by_layer) == sorted(explicit) and all(np.array_equal(by_layer[k], explicit[k]) for k in explicit)


def test_gluon_collect_params_names_by_layer(tmp_path):
    shapes = {f"net0_gru0_{side}0_{kind}_{what}": shape for side in "lr"
              for kind, what, shape in (("i2h", "weight", (18, 4)), ("h2h", "weight", (18, 6)),
                                        ("i2h", "bias", (18,)), ("h2h", "bias", (18,)))}
    shapes["net0_dense0_weight"] = (3, 12)
    source = write_random(tmp_path / "g.npz", shapes)
    assert main(["convert", "--from", "gluon", "--to", "canonical", "--layer", "net0_gru0", str(source),
                 str(tmp_path / "by_layer.npz")]) == 0
    assert main(["convert", "--from", "gluon", "--to", "canonical", "--mode", "gru", "--bidirectional", "--prefix",
                 "net0_gru0_", str(source), str(tmp_path / "by_flags.npz")]) == 0
    by_layer, by_flags = arrays(tmp_path / "by_layer.npz"), arrays(tmp_path / "by_flags.npz")
    assert sorted(by_layer) == sorted(by_flags) and all(np.array_equal(by_layer[k], by_flags[k]) for k in by_flags)


def test_the_layer_is_written_with_plain_names(seq2seq, tmp_path):
    """--layer reads under the layer's prefix and writes the layer alone (where --prefix would put it back)."""
    assert main(["convert", "--from", "torch", "--to", "torch", "--layer", "decoder.lstm", str(seq2seq),
                 str(tmp_path / "alone.npz")]) == 0
    written, source = arrays(tmp_path / "alone.npz"), arrays(seq2seq)
    assert sorted(written) == sorted(name.removeprefix("decoder.lstm.") for name in source
                                     if name.startswith("decoder.lstm."))
    assert all(np.array_equal(array, source[f"decoder.lstm.{name}"]) for name, array in written.items())


def test_convert_verifies_by_default_and_no_verify_skips_it(seq2seq, tmp_path, capsys):
    base = ["convert", "--from", "torch", "--to", "canonical", "--layer", "encoder.lstm", str(seq2seq)]
    assert main([*base, str(tmp_path / "a.npz")]) == 0
    out = capsys.readouterr().out
    assert "verify:" in out and "verification passed" in out  # the reference runs both sides here (NumPy alone)
    assert main([*base, "--no-verify", str(tmp_path / "b.npz")]) == 0
    assert "verification" not in capsys.readouterr().out
    assert arrays(tmp_path / "a.npz").keys() == arrays(tmp_path / "b.npz").keys()


def test_target_layer_needs_an_existing_model_file(seq2seq, tmp_path, capsys):
    out = tmp_path / "new.npz"
    assert main(["convert", "--from", "torch", "--to", "canonical", "--layer", "encoder.lstm", "--target-layer", "x",
                 str(seq2seq), str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--target-layer names a layer of an existing model file" in lines[0], lines
    assert not out.exists()
