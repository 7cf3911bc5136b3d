"""Canonical Params: one block per gate, checked against the spec, seeded, saved bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, ParamsError, RNNSpec, expected_shapes, forward


def test_keys_and_shapes_of_a_projected_bidirectional_lstm():
    spec = RNNSpec("lstm", input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2)
    shapes = expected_shapes(spec)
    assert shapes["l0.fwd.w_ih.i"] == (5, 3)  # (H, I)
    assert shapes["l0.bwd.w_hh.o"] == (5, 2)  # (H, R): recurrence reads the projected h
    assert shapes["l1.fwd.w_ih.g"] == (5, 4)  # (H, D*R)
    assert shapes["l1.bwd.b_hh.f"] == (5,)
    assert shapes["l1.bwd.w_proj"] == (2, 5)  # (P, H)
    # 2 layers x 2 directions x (4 gates x 4 kinds + projection)
    assert len(shapes) == 2 * 2 * (4 * 4 + 1)
    assert list(shapes)[:5] == ["l0.fwd.w_ih.i", "l0.fwd.w_hh.i", "l0.fwd.b_ih.i", "l0.fwd.b_hh.i", "l0.fwd.w_ih.f"]


def test_no_bias_means_no_bias_blocks():
    shapes = expected_shapes(RNNSpec("gru", 2, 3, bias=False))
    assert sorted(shapes) == sorted(f"l0.fwd.{kind}.{g}" for kind in ("w_ih", "w_hh") for g in "rzn")


def test_random_is_reproducible_and_bounded_by_one_over_sqrt_h():
    spec = RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True)
    first, again, other = Params.random(spec, seed=7), Params.random(spec, seed=7), Params.random(spec, seed=8)
    assert first.equal(again)
    assert not first.equal(other)
    values = np.concatenate([v.ravel() for v in first.values()])
    assert np.abs(values).max() <= 1 / np.sqrt(4)
    assert np.abs(values).max() > 0.4  # the draw fills the range, it is not all near 0


def test_random_float32_is_the_float64_draw_rounded():
    spec = RNNSpec("lstm", 2, 3)
    f64, f32 = Params.random(spec, 1), Params.random(spec, 1, dtype=np.float32)
    assert f32.dtype == np.float32
    for key in f64:
        np.testing.assert_array_equal(f32[key], f64[key].astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npz_round_trip_is_bit_exact(tmp_path, dtype):
    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True, proj_size=2)
    params = Params.random(spec, 3, dtype=dtype)
    params.save(tmp_path / "p.npz")
    loaded = Params.load(tmp_path / "p.npz", spec)
    assert loaded.equal(params)
    assert list(loaded) == list(params)


def test_a_wrong_block_is_named_with_expected_and_actual_shape():
    spec = RNNSpec("rnn_tanh", 2, 3)
    blocks = dict(Params.random(spec))
    blocks["l0.fwd.w_hh.h"] = np.zeros((3, 2))
    with pytest.raises(ParamsError, match=r"l0\.fwd\.w_hh\.h: expected shape \(3, 3\), got \(3, 2\)"):
        Params(spec, blocks)


def test_missing_and_unexpected_keys_are_all_listed():
    spec = RNNSpec("gru", 2, 3)
    blocks = dict(Params.random(spec))
    del blocks["l0.fwd.w_ih.r"], blocks["l0.fwd.b_hh.n"]
    blocks["l0.fwd.w_ih.q"] = np.zeros((3, 2))
    with pytest.raises(ParamsError) as error:
        Params(spec, blocks)
    message = str(error.value)
    assert "missing keys: l0.fwd.w_ih.r, l0.fwd.b_hh.n" in message
    assert "unexpected keys: l0.fwd.w_ih.q" in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((3, 2), dtype=np.int64), "expected float32 or float64, got int64"),
        (np.full((3, 2), np.nan), "contains NaN or Inf"),
        ([[0.0] * 2] * 3, "expected a numpy array, got list"),
    ],
    ids=["int", "nan", "list"],
)
def test_bad_block_values_are_rejected(value, message):
    spec = RNNSpec("rnn_relu", 2, 3)
    blocks = dict(Params.random(spec)) | {"l0.fwd.w_ih.h": value}
    with pytest.raises(ParamsError, match=message):
        Params(spec, blocks)


def test_mixed_dtypes_are_rejected():
    spec = RNNSpec("rnn_relu", 2, 3)
    blocks = dict(Params.random(spec)) | {"l0.fwd.b_ih.h": np.zeros(3, np.float32)}
    with pytest.raises(ParamsError, match="mix dtypes"):
        Params(spec, blocks)


def test_loading_checks_the_file_against_the_spec(tmp_path):
    Params.random(RNNSpec("lstm", 2, 3)).save(tmp_path / "lstm.npz")
    with pytest.raises(ParamsError, match=r"missing keys: l0\.bwd\.w_ih\.i"):
        Params.load(tmp_path / "lstm.npz", RNNSpec("lstm", 2, 3, bidirectional=True))


def test_loading_a_file_that_is_not_an_npz_names_the_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ParamsError, match=r"broken\.npz: not a readable canonical \.npz"):
        Params.load(path, RNNSpec("lstm", 2, 3))


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, **{"l0.fwd.w_ih.h": np.array([object()], dtype=object)})
    with pytest.raises(ParamsError, match=r"pickled\.npz"):
        Params.load(path, RNNSpec("rnn_tanh", 1, 1))


def test_blocks_are_read_only_after_validation():
    """A write into a validated block would change what every later forward computes, unchecked
    (bad-inputs.md, A33: a NaN written after validation came out of ``forward`` silently)."""
    spec = RNNSpec("lstm", 2, 3)
    params = Params.random(spec)
    with pytest.raises(ValueError, match="read-only"):
        params["l0.fwd.w_ih.i"][0, 0] = np.nan
    assert all(not block.flags.writeable for block in params.values())
    assert all(not block.flags.writeable for block in params.unit(0, "fwd").values())
    assert np.isfinite(forward(spec, params, np.ones((1, 2, 2))).output).all()


def test_an_array_changed_by_its_owner_after_validation_does_not_change_the_params():
    spec = RNNSpec("gru", 2, 3)
    blocks = {key: block.copy() for key, block in Params.random(spec).items()}
    params = Params(spec, blocks)
    blocks["l0.fwd.w_hh.r"][...] = np.nan
    assert np.isfinite(params["l0.fwd.w_hh.r"]).all()
    assert blocks["l0.fwd.w_hh.r"].flags.writeable  # the caller's arrays are left as they were


def test_params_made_from_params_share_their_read_only_blocks():
    """Re-wrapping (a layout change, ``dict(params)`` with a block replaced) copies only new arrays."""
    spec = RNNSpec("rnn_tanh", 2, 3)
    params = Params.random(spec)
    again = Params(spec, {**params, "l0.fwd.b_ih.h": np.zeros(3)})
    assert again["l0.fwd.w_ih.h"] is params["l0.fwd.w_ih.h"]
    assert not again["l0.fwd.b_ih.h"].flags.writeable
