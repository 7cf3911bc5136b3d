"""Mapping rows: the data that says which native parameter region holds which canonical block.

These tests need no framework: the rows are data. They also read as the conventions of
each engine (gate order, orientation, names).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, ParamsError, RNNSpec
from rnn_ref.adapters import ENGINES, adapter_object, load_adapter
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import small_matrix
from rnn_ref.core.mapping import format_region

H = 5


def adapter_without_framework(engine: str) -> Adapter:
    """The adapter object; mapping() must work even where the framework is not installed."""
    return adapter_object(engine)


def distinct_specs(engine: str) -> list[RNNSpec]:
    adapter = adapter_without_framework(engine)
    specs = {c.spec for c in small_matrix() if adapter.unsupported_reason(c.spec, c.dtype, False) is None}
    return sorted(specs, key=repr)


@pytest.mark.parametrize("registered", list(ENGINES))
def test_rows_cover_every_native_element_and_every_canonical_block_once(registered):
    adapter = adapter_without_framework(registered)
    for spec in distinct_specs(registered):
        assert adapter.mapping(spec).coverage_problems() == [], spec


def fold_biases(params: Params, one_bias: set[tuple[str, str]]) -> Params:
    """What a one-bias engine holds for each (unit, gate) of ``one_bias``: b_ih + b_hh in b_ih, zeros in b_hh."""
    blocks = dict(params)
    for unit, gate in one_bias:
        blocks[f"{unit}.b_ih.{gate}"] = params[f"{unit}.b_ih.{gate}"] + params[f"{unit}.b_hh.{gate}"]
        blocks[f"{unit}.b_hh.{gate}"] = np.zeros_like(params[f"{unit}.b_hh.{gate}"])
    return Params(params.spec, blocks)


def one_bias_gates(rows) -> set[tuple[str, str]]:
    """The (unit, gate) pairs whose biases the engine keeps as one: a row that holds the sum of a
    b_ih block and the b_hh block of the same unit and gate (Keras, Flax; not Keras GRU reset_after)."""
    pairs = set()
    for row in rows:
        summed = [key for key in row.canonical if ".b_ih." in key]
        if row.combine == "sum" and any(key.replace(".b_ih.", ".b_hh.") in row.canonical for key in summed):
            pairs |= {tuple(key.split(".b_ih.")) for key in summed}
    return pairs


@pytest.mark.parametrize("registered", list(ENGINES))
def test_native_round_trip_through_rows_is_bit_exact(registered):
    """Through the rows and back gives the params, with each bias pair the rows sum folded."""
    adapter = adapter_without_framework(registered)
    for spec in distinct_specs(registered):
        params = Params.random(spec, seed=1)
        mapping = adapter.mapping(spec)
        expected = fold_biases(params, one_bias_gates(mapping.rows))
        assert mapping.to_params(mapping.to_native(params)).equal(expected), spec


def test_one_bias_engines_are_read_off_their_rows():
    """Which engines keep one bias per gate is what their rows say, not a list kept beside them."""
    lstm, gru = RNNSpec("lstm", 3, H), RNNSpec("gru", 3, H)
    assert one_bias_gates(adapter_without_framework("keras").mapping(lstm).rows) == {
        ("l0.fwd", gate) for gate in "ifgo"}
    assert one_bias_gates(adapter_without_framework("keras").mapping(gru).rows) == set()  # reset_after: two
    assert one_bias_gates(adapter_without_framework("torch").mapping(lstm).rows) == set()


def rows_by_text(engine: str, spec: RNNSpec) -> set[str]:
    return {row.describe() for row in adapter_without_framework(engine).mapping(spec).rows}


def test_torch_stacks_lstm_gates_i_f_g_o_along_rows():
    rows = rows_by_text("torch", RNNSpec("lstm", 3, H, num_layers=2, bidirectional=True, proj_size=2))
    assert {
        "weight_ih_l0[0:5] = l0.fwd.w_ih.i",
        "weight_ih_l0[5:10] = l0.fwd.w_ih.f",
        "weight_ih_l0[10:15] = l0.fwd.w_ih.g",
        "weight_ih_l0[15:20] = l0.fwd.w_ih.o",
        "weight_hh_l1_reverse[5:10] = l1.bwd.w_hh.f",  # the backward direction is "_reverse"
        "bias_hh_l1[15:20] = l1.fwd.b_hh.o",
        "weight_hr_l1_reverse = l1.bwd.w_proj",  # projection: one (P, H) matrix per unit
    } <= rows


def test_torch_gru_gates_are_r_z_n():
    rows = rows_by_text("torch", RNNSpec("gru", 3, H))
    assert {"weight_ih_l0[0:5] = l0.fwd.w_ih.r", "weight_ih_l0[5:10] = l0.fwd.w_ih.z",
            "weight_hh_l0[10:15] = l0.fwd.w_hh.n"} <= rows


def test_torch_cell_names_one_cell_per_layer_and_direction():
    rows = rows_by_text("torch-cell", RNNSpec("rnn_tanh", 3, H, num_layers=2, bidirectional=True))
    assert {"l0_fwd.weight_ih[0:5] = l0.fwd.w_ih.h", "l1_bwd.bias_hh[0:5] = l1.bwd.b_hh.h"} <= rows


def test_keras_kernels_are_transposed_with_gates_along_columns():
    rows = rows_by_text("keras", RNNSpec("lstm", 3, H, num_layers=2))
    assert {
        "rnn.cell.cells[0].kernel[:, 0:5] = l0.fwd.w_ih.iᵀ",  # (I, 4H): columns hold the gates
        "rnn.cell.cells[0].kernel[:, 10:15] = l0.fwd.w_ih.gᵀ",  # Keras calls g "c": order i f c o
        "rnn.cell.cells[1].recurrent_kernel[:, 15:20] = l1.fwd.w_hh.oᵀ",
        "rnn.cell.cells[1].bias[5:10] = l1.fwd.b_ih.f + l1.fwd.b_hh.f",  # one bias: the sum
    } <= rows


def test_keras_gru_puts_the_update_gate_first():
    rows = rows_by_text("keras", RNNSpec("gru", 3, H, bidirectional=True, gru_variant="reset_before"))
    assert {
        "bidirectional[0].forward_layer.cell.kernel[:, 0:5] = l0.fwd.w_ih.zᵀ",
        "bidirectional[0].forward_layer.cell.kernel[:, 5:10] = l0.fwd.w_ih.rᵀ",
        "bidirectional[0].backward_layer.cell.kernel[:, 10:15] = l0.bwd.w_ih.nᵀ",
        "bidirectional[0].backward_layer.cell.bias[0:5] = l0.bwd.b_ih.z + l0.bwd.b_hh.z",
    } <= rows


def test_keras_gru_reset_after_keeps_two_bias_rows():
    rows = rows_by_text("keras", RNNSpec("gru", 3, H, gru_variant="reset_after"))
    assert {"rnn.cell.bias[0, 10:15] = l0.fwd.b_ih.n", "rnn.cell.bias[1, 10:15] = l0.fwd.b_hh.n"} <= rows


def test_native_weights_that_do_not_match_are_listed():
    spec = RNNSpec("lstm", 3, H)
    mapping = adapter_without_framework("torch").mapping(spec)
    native = mapping.to_native(Params.random(spec))
    native["weight_ih_l0"] = native["weight_ih_l0"][:, :2]
    del native["bias_hh_l0"]
    native["weight_ih_l0_reverse"] = np.zeros((20, 3))
    with pytest.raises(ParamsError) as error:
        mapping.to_params(native)
    message = str(error.value)
    assert "missing: bias_hh_l0" in message
    assert "unexpected: weight_ih_l0_reverse" in message
    assert "weight_ih_l0: expected shape (20, 3), got (20, 2)" in message


def test_region_formatting():
    assert format_region((slice(0, 4),)) == "[0:4]"
    assert format_region((slice(None), slice(4, 8))) == "[:, 4:8]"
    assert format_region((1, slice(0, 3))) == "[1, 0:3]"
    assert format_region((slice(0, 4), slice(None))) == "[0:4]"  # trailing ":" dropped, as in NumPy
    assert format_region(()) == ""


def test_load_adapter_needs_the_framework():
    for name, info in ENGINES.items():
        if not info.installed():
            with pytest.raises(ValueError, match=f"engine '{name}' cannot run here: "):
                load_adapter(name)
