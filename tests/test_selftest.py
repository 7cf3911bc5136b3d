"""``rnn-ref selftest``: every seeded mapping bug is caught, on NumPy engines here and on each real one.

The NumPy engines below lay their native arrays out exactly as torch's or Keras's rows say
and compute with the reference, so the ``ref`` env covers the self-test's logic (both the
two-bias and the one-bias mutations) without any framework. Each engine env runs the real
self-test on its engines (``test_selftest_catches_every_mutation_on_the_engine``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, backward, forward
from rnn_ref.adapters import ENGINES
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.adapters.keras.layers import KerasAdapter
from rnn_ref.adapters.torch.fused import TorchAdapter
from rnn_ref.cases.cotangents import EngineGradients
from rnn_ref.cli import main
from rnn_ref.judge.gradient_selftest import GRADIENT_PREFIX
from rnn_ref.judge.selftest import (
    CAUGHT,
    MUTATIONS,
    NOT_APPLICABLE,
    SURVIVED,
    Mutation,
    bias_in_b_hh,
    drop_summand,
    folded_by_hand,
    passed,
    render,
    reshaped_layout,
    selftest_engine,
    swap_directions,
    swap_gates,
    swap_layers,
    toggle_transpose,
    with_rows,
)

ALL_CAUGHT = re.compile(r"^(\d+)/\1 mutations caught$")


class NumpyEngine(Adapter):
    """A NumPy 'framework' whose native arrays follow another engine's rows."""

    def __init__(self, rows_of: Adapter) -> None:
        self.rows_of = rows_of
        self.name = f"numpy-{rows_of.name}"

    def version(self) -> str:
        return np.__version__

    def mapping(self, spec):
        return self.rows_of.mapping(spec)

    def unsupported_reason(self, spec, dtype, with_lengths):
        return self.rows_of.unsupported_reason(spec, dtype, with_lengths)

    def build(self, spec, params):
        return self.mapping(spec).to_native(params)

    def native_arrays(self, spec, layer):
        return {name: array.copy() for name, array in layer.items()}

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        params = self.mapping(spec).to_params(layer)
        return forward(spec, params, x, initial_state, lengths, precision="input")


TWO_BIASES, ONE_BIAS = NumpyEngine(TorchAdapter()), NumpyEngine(KerasAdapter())


def by_name(report):
    return {r.mutation: r for r in report.results}


def test_every_mutation_is_caught_on_an_engine_with_two_biases():
    report = selftest_engine(TWO_BIASES)
    assert passed([report]), render([report])
    results = by_name(report)
    assert {m.name for m in MUTATIONS} == set(results)
    # a two-bias engine has no one-bias row to break
    assert results["drop-summand"].status == results["bias-in-b_hh"].status == NOT_APPLICABLE
    assert all(r.status == CAUGHT for name, r in results.items() if name not in ("drop-summand", "bias-in-b_hh"))
    assert ALL_CAUGHT.match(render([report]).splitlines()[-1])


def test_one_bias_mutations_are_caught_on_an_engine_with_one_bias():
    report = selftest_engine(ONE_BIAS)
    assert passed([report]), render([report])
    results = by_name(report)
    assert results["drop-summand"].status == CAUGHT and "output" in results["drop-summand"].detail
    # b_ih + b_hh is the same sum either way: only the round trip against the fold by hand sees it
    assert results["bias-in-b_hh"].detail.startswith("round trip (l0.fwd.b_ih.")


def test_an_engine_without_bidirectional_layers_is_checked_on_the_unidirectional_cases():
    class UnidirectionalOnly(NumpyEngine):
        def unsupported_reason(self, spec, dtype, with_lengths):
            return "no bidirectional layer" if spec.bidirectional else None

    report = selftest_engine(UnidirectionalOnly(TorchAdapter()))
    assert passed([report]) and report.cases and all("-uni-" in case for case in report.cases)
    assert by_name(report)["swap-directions"].status == NOT_APPLICABLE
    assert by_name(report)["swap-layers"].status == CAUGHT


def test_a_mutation_no_case_can_see_survives_and_fails_the_selftest():
    unchanged = Mutation("rows-rebuilt-unchanged", rows=lambda mapping: with_rows(mapping, mapping.rows))
    report = selftest_engine(TWO_BIASES, mutations=[unchanged])
    assert report.results[0].status == SURVIVED and not passed([report])
    table = render([report])
    assert "SURVIVED every case (lstm-L2-bi-NTC-h0-lenshort-f64" in table
    assert table.splitlines()[-1] == "0/1 mutations caught"


def test_an_engine_that_fails_unmutated_stops_the_selftest():
    class ForgetsTheBias(NumpyEngine):
        def build(self, spec, params):
            return super().build(spec, Params(spec, {k: v * 0 if ".b_" in k else v for k, v in params.items()}))

    report = selftest_engine(ForgetsTheBias(TorchAdapter()))
    assert report.baseline_failures and not report.results and not passed([report])
    assert "BASELINE FAILS" in render([report])


# --------------------------------------------------------------------------- the gradient side
class DifferentiatingNumpyEngine(NumpyEngine):
    """A NumPy engine that also differentiates (the reference backward, in the input's dtype),
    its native gradients laid out by the same rows as its weights."""

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        grads = backward(spec, self.mapping(spec).to_params(layer), x, initial_state, lengths,
                         grad_output=cotangents.output, grad_h_n=cotangents.h_n, grad_c_n=cotangents.c_n,
                         precision="input")
        given = initial_state is not None
        # a one-bias region's gradient is each summand's (not their sum): the chain rule through b_ih = bias
        mapping = self.mapping(spec)
        others = {key for row in mapping.rows if row.combine == "sum" for key in row.canonical[1:]}
        blocks = {key: np.zeros_like(block) if key in others else block for key, block in grads.params.items()}
        return EngineGradients(grads.x, grads.h0 if given else None, grads.c0 if given else None,
                               mapping.to_native(Params(spec, blocks)))


def gradient_results(report):
    return {name.removeprefix(GRADIENT_PREFIX): r for name, r in by_name(report).items()
            if name.startswith(GRADIENT_PREFIX)}


def test_a_differentiating_engine_also_has_each_row_mutation_seeded_into_its_gradient_rows():
    """A gradient brought back through a wrong row is caught, for every row mutation that changes
    what comes back. On a one-bias engine each summand gets the whole region whichever key is
    first, so ``bias-in-b_hh`` cannot change a gradient: not applicable, and said why."""
    for rows_of, not_applicable in ((TorchAdapter(), {"drop-summand", "bias-in-b_hh"}),
                                    (KerasAdapter(), {"bias-in-b_hh"})):
        report = selftest_engine(DifferentiatingNumpyEngine(rows_of))
        assert passed([report]), render([report])
        results = gradient_results(report)
        assert set(results) == {m.name for m in MUTATIONS if m.rows is not None}
        assert {name for name, r in results.items() if r.status == NOT_APPLICABLE} == not_applicable
        assert all(r.status == CAUGHT and r.case.endswith("-grad") for name, r in results.items()
                   if name not in not_applicable)
        assert results["swap-gates(w_hh)"].detail.startswith("grad l0.fwd.w_hh.")
    assert "brings the gradients back unchanged" in results["bias-in-b_hh"].detail


def test_a_forward_only_engine_has_no_gradient_side():
    assert not gradient_results(selftest_engine(TWO_BIASES))


def test_the_true_rows_bring_the_gradients_back_and_a_swapped_row_fails_them():
    from rnn_ref.cases.matrix import case_by_id
    from rnn_ref.judge.gradient_selftest import differentiated, failed_gradients

    engine = DifferentiatingNumpyEngine(TorchAdapter())
    run = differentiated(engine, case_by_id("gru-L2-bi-NTC-h0-f64"), None)
    swap = next(m for m in MUTATIONS if m.name == "swap-gates(b_ih)")
    assert failed_gradients(engine, run, None) is None
    assert failed_gradients(engine, run, swap) == "grad l0.fwd.b_ih.r, grad l0.fwd.b_ih.z"


# --------------------------------------------------------------------------- each row mutation
SPEC = RNNSpec("lstm", 3, 5, num_layers=2, bidirectional=True)


def rows_by_region(mapping):
    return {(row.native, str(row.region)): row for row in mapping.rows}


def changed_rows(mutated, original):
    before, after = rows_by_region(original), rows_by_region(mutated)
    return {key: (before[key].describe(), after[key].describe()) for key in before if before[key] != after[key]}


def test_swap_gates_exchanges_the_first_two_gates_of_one_kind():
    original = TorchAdapter().mapping(SPEC)
    changed = changed_rows(swap_gates("w_ih")(original), original)
    assert sorted(changed.values()) == [("weight_ih_l0[0:5] = l0.fwd.w_ih.i", "weight_ih_l0[0:5] = l0.fwd.w_ih.f"),
                                        ("weight_ih_l0[5:10] = l0.fwd.w_ih.f", "weight_ih_l0[5:10] = l0.fwd.w_ih.i")]
    assert swap_gates("w_ih")(TorchAdapter().mapping(SPEC.replace(mode="rnn_tanh"))) is None  # one gate only


def test_toggle_transpose_reads_a_square_block_transposed():
    original = TorchAdapter().mapping(SPEC)
    assert list(changed_rows(toggle_transpose(original), original).values()) == [
        ("weight_hh_l0[0:5] = l0.fwd.w_hh.i", "weight_hh_l0[0:5] = l0.fwd.w_hh.iᵀ")]
    keras = KerasAdapter().mapping(SPEC)  # Keras rows transpose: the mutation drops the ᵀ
    assert [after for _, after in changed_rows(toggle_transpose(keras), keras).values()] == [
        "bidirectional[0].forward_layer.cell.recurrent_kernel[:, 0:5] = l0.fwd.w_hh.i"]


def test_swap_directions_and_layers():
    original = TorchAdapter().mapping(SPEC)
    directions = changed_rows(swap_directions(original), original)
    assert ("weight_ih_l0[0:5] = l0.fwd.w_ih.i", "weight_ih_l0[0:5] = l0.bwd.w_ih.i") in directions.values()
    assert all(key[0].startswith(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")) for key in directions)
    layers = changed_rows(swap_layers(original), original)
    assert ("weight_hh_l0[0:5] = l0.fwd.w_hh.i", "weight_hh_l0[0:5] = l1.fwd.w_hh.i") in layers.values()
    assert not any(key[0].startswith("weight_ih") for key in layers)  # (5, 3) and (5, 10): shapes differ
    assert swap_directions(TorchAdapter().mapping(SPEC.replace(bidirectional=False))) is None
    assert swap_layers(TorchAdapter().mapping(SPEC.replace(num_layers=1))) is None


def test_one_bias_mutations():
    keras = KerasAdapter().mapping(SPEC)
    dropped = list(changed_rows(drop_summand(keras), keras).values())
    assert dropped == [("bidirectional[0].forward_layer.cell.bias[0:5] = l0.fwd.b_ih.i + l0.fwd.b_hh.i",
                        "bidirectional[0].forward_layer.cell.bias[0:5] = l0.fwd.b_ih.i")]
    moved = changed_rows(bias_in_b_hh(keras), keras)
    assert ("bidirectional[0].forward_layer.cell.bias[0:5] = l0.fwd.b_ih.i + l0.fwd.b_hh.i",
            "bidirectional[0].forward_layer.cell.bias[0:5] = l0.fwd.b_hh.i + l0.fwd.b_ih.i") in moved.values()
    assert drop_summand(TorchAdapter().mapping(SPEC)) is None and bias_in_b_hh(TorchAdapter().mapping(SPEC)) is None


def test_folded_by_hand_puts_the_sum_in_b_ih_and_zeros_in_b_hh():
    params = Params.random(SPEC, seed=3)
    folded = folded_by_hand(params, KerasAdapter().mapping(SPEC))
    np.testing.assert_array_equal(folded["l1.bwd.b_ih.o"], params["l1.bwd.b_ih.o"] + params["l1.bwd.b_hh.o"])
    assert not folded["l1.bwd.b_hh.o"].any()
    assert folded_by_hand(params, TorchAdapter().mapping(SPEC)).equal(params)  # two biases: nothing folds


def test_reshaped_layout_keeps_the_shape_and_scrambles_the_steps():
    x = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    assert reshaped_layout(x).shape == x.shape
    assert reshaped_layout(x).ravel().tolist() == [0, 3, 1, 4, 2, 5]


# --------------------------------------------------------------------------- the command
def test_the_command_refuses_an_unknown_engine(capsys):
    assert main(["selftest", "--engines", "nonesuch"]) == 2
    assert "unknown engine 'nonesuch'" in capsys.readouterr().err


def test_the_command_refuses_an_engine_that_is_not_installed(capsys):
    missing = [name for name, info in ENGINES.items() if not info.installed()]
    if not missing:
        pytest.skip("every engine is installed here: no engine to refuse")
    assert main(["selftest", "--engines", missing[0]]) == 2
    assert f"not installed here: {missing[0]}" in capsys.readouterr().err


@pytest.mark.engine
def test_selftest_catches_every_mutation_on_the_engine(engine, capsys):
    code = main(["selftest", "--engines", engine])
    table = capsys.readouterr().out
    assert code == 0, table
    assert ALL_CAUGHT.match(table.splitlines()[-1]), table


def test_an_engine_that_runs_no_case_has_nothing_to_mutate_and_says_why():
    """onnx2torch converts no recurrent node: every case is unsupported, so no mutation applies;
    the self-test says so instead of calling the engine broken."""
    import reference_engine

    from rnn_ref.judge.selftest import passed, render, selftest_engine

    class RunsNothing(reference_engine.ReferenceEngine):
        name = "runs-nothing"
        limits = ("this engine converts no recurrent layer",)

        def unsupported_reason(self, spec, dtype, with_lengths):
            return self.limits[0]

    report = selftest_engine(RunsNothing())
    table = render([report])
    assert passed([report]) and report.results == []
    assert "runs-nothing  runs no case of the matrix, so no mutation applies: this engine converts no recurrent" in table
    assert table.splitlines()[-1] == "0/0 mutations caught"
