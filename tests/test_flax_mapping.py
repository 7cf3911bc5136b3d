"""Flax NNX mapping rows: native names are flattened NNX state paths. NumPy alone."""

from __future__ import annotations

from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import adapter_object

H = 5


def rows_by_text(engine: str, spec: RNNSpec) -> set[str]:
    return {row.describe() for row in adapter_object(engine).mapping(spec).rows}


def test_flax_lstm_cell_has_one_linear_per_gate_with_the_bias_on_the_recurrent_side():
    rows = rows_by_text("flax", RNNSpec("lstm", 3, H, num_layers=2, bidirectional=True))
    assert {
        "layers.0.forward_rnn.cell.ii.kernel = l0.fwd.w_ih.iᵀ",  # Linear kernels are (in, out)
        "layers.0.forward_rnn.cell.if_.kernel = l0.fwd.w_ih.fᵀ",
        "layers.1.backward_rnn.cell.hg.kernel = l1.bwd.w_hh.gᵀ",
        "layers.1.backward_rnn.cell.ho.bias = l1.bwd.b_ih.o + l1.bwd.b_hh.o",  # one bias: the sum
    } <= rows


def test_flax_optimized_lstm_stacks_gates_i_f_g_o_along_columns():
    rows = rows_by_text("flax-optimized", RNNSpec("lstm", 3, H))
    assert {
        "layers.0.cell.dense_i.kernel[:, 0:5] = l0.fwd.w_ih.iᵀ",
        "layers.0.cell.dense_i.kernel[:, 10:15] = l0.fwd.w_ih.gᵀ",
        "layers.0.cell.dense_h.bias[15:20] = l0.fwd.b_ih.o + l0.fwd.b_hh.o",
    } <= rows


def test_flax_simple_cell_puts_its_bias_on_the_input_side():
    rows = rows_by_text("flax", RNNSpec("rnn_relu", 3, H))
    assert rows == {"layers.0.cell.dense_i.kernel[:, 0:5] = l0.fwd.w_ih.hᵀ",
                    "layers.0.cell.dense_h.kernel[:, 0:5] = l0.fwd.w_hh.hᵀ",
                    "layers.0.cell.dense_i.bias[0:5] = l0.fwd.b_ih.h + l0.fwd.b_hh.h"}


def test_flax_gru_without_biases_maps_r_z_n_and_with_biases_is_refused():
    adapter = adapter_object("flax")
    rows = rows_by_text("flax", RNNSpec("gru", 3, H, bias=False))
    assert "layers.0.cell.dense_h.kernel[:, 10:15] = l0.fwd.w_hh.nᵀ" in rows
    assert not any("bias" in row for row in rows)  # held at zero, outside the rows
    reason = adapter.layer_unsupported_reason(RNNSpec("gru", 3, H))
    assert reason is not None and "no b_hn" in reason


def test_flax_npz_is_keyed_by_the_state_paths(tmp_path):
    from rnn_ref.conversion.convert import read_params, write_params

    spec = RNNSpec("lstm", 3, H, num_layers=2, bidirectional=True)
    params = Params.random(spec, seed=3)
    write_params("flax", tmp_path / "w.npz", params)
    import numpy as np

    with np.load(tmp_path / "w.npz") as archive:
        assert "layers.1.backward_rnn.cell.hi.kernel" in archive.files and len(archive.files) == 2 * 2 * 12
    mapping = adapter_object("flax").mapping(spec)
    assert read_params("flax", tmp_path / "w.npz", spec).equal(mapping.to_params(mapping.to_native(params)))
