"""`rnn-ref diagnose` names the mistake: every catalog mistake, seeded, is found (NumPy alone, .npz files).

The seeds are rnn_ref.diagnosis.seeding's: every candidate of the catalog, the gate orders (all
23 of the LSTM for torch's rows and in the outputs, three for the other rows here: every engine's
framework files get all, in tests/test_diagnose_engines.py), every square w_hh block transposed, selftest's row slips, and a sample of
pairs; each weights seed is written
into an engine's .npz by ``rnn-ref convert``'s writer, read back by its reader, and diagnosed.
"found" is exactly the seeded set; "ambiguous" another set of no more mistakes that reproduces
the seed bit for bit (checked by making those mistakes); "invisible" a seed that changes nothing
(diagnose says "no difference"). Nothing may be missed. The framework files (.pt, .weights.h5,
.params, .onnx) are tests/test_diagnose_engines.py's.

The sweeps need NumPy alone and no engine, so they run once, in the reference-only run
(``--engines none``, the ref env); a run that selects engines skips them and runs the rest.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.conversion.convert import engine_mapping
from rnn_ref.core.compare import TOLERANCES
from rnn_ref.core.state import State
from rnn_ref.diagnosis import KINDS, Mistake, Observed, diagnose_outputs, diagnose_weights
from rnn_ref.diagnosis.catalog import Run
from rnn_ref.diagnosis.findings import measure
from rnn_ref.diagnosis.gates import gate_order_mistake, moves, reorder, solve_kind
from rnn_ref.diagnosis.outputs import run_with
from rnn_ref.diagnosis.seeding import Seed, diagnosed_files, diagnosed_outputs, seeded_run, verdict_on
from rnn_ref.diagnosis.weights import apply, reproduce

LSTM = RNNSpec("lstm", 8, 4, num_layers=2, bidirectional=True)  # I = D·H: layers 0 and 1 can be exchanged
GRU = RNNSpec("gru", 4, 4, bidirectional=True)  # square w_ih: its transposes too
SPECS = {"lstm-L2-bi": LSTM, "gru-L1-bi": GRU}
#: one engine per family: two biases stacked (torch, gluon, onnx), one bias (keras), a kernel per gate (flax)
ENGINES = ("torch", "gluon", "keras", "onnx", "flax")
F32 = TOLERANCES["float32"]


@pytest.fixture
def sweep(request):
    """Skip a NumPy-only sweep in a run that selects engines (it runs in the reference-only run)."""
    if list(request.config.rnn_ref_engines):
        pytest.skip("a NumPy-only sweep: it runs once, with --engines none (tox -e ref)")


#: every engine with the LSTM, three of its 23 gate orders (torch: all 23); torch and keras with the GRU too
NPZ_CASES = [(engine, "lstm-L2-bi") for engine in ENGINES] + [("torch", "gru-L1-bi"), ("keras", "gru-L1-bi")]


@pytest.mark.parametrize(("engine", "spec_id"), NPZ_CASES, ids=[f"{e}-{s}" for e, s in NPZ_CASES])
def test_every_seeded_mistake_in_an_npz_is_named(engine, spec_id, tmp_path, sweep):
    spec = SPECS[spec_id]
    verdicts = diagnosed_files(engine, spec, tmp_path, ".npz", pair_stride=0, orders=None if engine == "torch" else 3)
    missed = [name for name, verdict in verdicts if verdict == "missed"]
    assert not missed, f"{engine} {spec_id}: missed {missed}"
    assert {name for name, _ in verdicts} >= {"gate-order", "bias", "direction", "transpose"}
    assert sum(verdict == "found" for _, verdict in verdicts) >= len(verdicts) - 4  # at most the invisible folds


def test_a_sample_of_pairs_in_an_npz_is_named(tmp_path, sweep):
    verdicts = diagnosed_files("keras", LSTM, tmp_path, ".npz", singles=False, pair_stride=13)
    assert len(verdicts) >= 5
    assert not [name for name, verdict in verdicts if verdict == "missed"]


@pytest.mark.parametrize("spec_id", list(SPECS))
def test_every_seeded_mistake_in_the_outputs_of_the_reference_is_named(spec_id, sweep):
    verdicts = diagnosed_outputs(SPECS[spec_id], pair_stride=0)  # every gate order too
    assert not [name for name, verdict in verdicts if verdict == "missed"]
    named = {name for name, verdict in verdicts if verdict == "found"}
    expected = {"gate-order", "bias", "activation", "padded-steps", "layout", "final-state", "initial-state",
                "direction", "transpose"}
    assert named >= expected | ({"forget-bias", "layer-order"} if spec_id == "lstm-L2-bi" else {"gru-variant"})


@pytest.mark.parametrize("spec_id", list(SPECS))
def test_a_sample_of_pairs_in_the_outputs_is_named(spec_id, sweep):
    verdicts = diagnosed_outputs(SPECS[spec_id], singles=False, pair_stride=40)
    assert len(verdicts) >= 7
    assert not [name for name, verdict in verdicts if verdict == "missed"]


# ----------------------------------------------------------------------------- correct, unrelated
@pytest.mark.parametrize("engine", ENGINES)
def test_a_correct_conversion_is_no_difference(engine):
    source = Params.random(LSTM, seed=1, dtype=np.float32)
    mapping = engine_mapping(engine, LSTM)
    diagnosis = diagnose_weights(source, mapping, apply(mapping, source, []))
    assert (diagnosis.verdict, diagnosis.exit_code, diagnosis.findings) == ("agree", 0, ())


@pytest.mark.parametrize("engine", ("torch", "keras"))
def test_unrelated_weights_are_explained_by_nothing(engine):
    mapping = engine_mapping(engine, GRU)
    source, other = Params.random(GRU, seed=1), Params.random(GRU, seed=2)
    diagnosis = diagnose_weights(source, mapping, apply(mapping, other, []))
    assert (diagnosis.verdict, diagnosis.exit_code) == ("unexplained", 2)
    assert diagnosis.residual > 0.01


def test_unrelated_outputs_are_explained_by_nothing():
    params, run = seeded_run(GRU)
    result = run_with(Params.random(GRU, seed=9, dtype=np.float32), run, [])
    diagnosis = diagnose_outputs(params, run, Observed(result.output.astype(np.float32)))
    assert (diagnosis.verdict, diagnosis.exit_code) == ("unexplained", 2)


def test_the_outputs_of_a_correct_run_are_no_difference_in_float32():
    params, run = seeded_run(LSTM)
    result = run_with(params, run, [])
    assert result.c_n is not None
    observed = Observed(result.output.astype(np.float32), result.h_n.astype(np.float32), result.c_n.astype(np.float32))
    assert diagnose_outputs(params, run, observed).verdict == "agree"
    params, run = seeded_run(GRU)
    observed = Observed(run_with(params, run, []).output.astype(np.float32))
    assert diagnose_outputs(params, run, Observed(observed.output + 1e-4)).verdict != "agree"


# ----------------------------------------------------------------------------- the words
def test_a_gate_swap_is_said_in_the_users_terms():
    source = Params.random(LSTM, seed=1)
    mapping = engine_mapping("torch", LSTM)
    target = apply(mapping, Params(LSTM, reorder(LSTM, dict(source), ("i", "g", "f", "o"))), [])
    (finding,) = diagnose_weights(source, mapping, target).findings
    assert finding.kind == "gate-order"
    assert finding.says.startswith("the target's LSTM gates are in i,g,f,o order: gates f and g swapped in every "
                                   "layer and direction")
    assert finding.parameters["permutation"]["l1.bwd"]["w_hh"] == ["i", "g", "f", "o"]


def test_one_unit_and_kind_is_said_as_such():
    orders = {"l0.fwd": {"w_ih": ("f", "i", "g", "o")}}
    assert "gates i and f swapped in l0.fwd (w_ih only)" in gate_order_mistake(LSTM, orders).says
    assert moves(("i", "f", "g", "o"), ("f", "g", "i", "o")) == "f where i belongs, g where f belongs, i where g belongs"


def test_every_kind_is_documented_in_the_design():
    from pathlib import Path

    design = (Path(__file__).resolve().parent.parent / "docs" / "design.md").read_text(encoding="utf-8")
    assert [kind for kind in KINDS if f"`{kind}`" not in design] == []
    with pytest.raises(ValueError, match="unknown mistake kind"):
        Mistake("gate-swap", {}, "")


# ----------------------------------------------------------------------------- the checkers, fed wrong values
def test_measure_refuses_a_value_past_the_tolerance_another_shape_and_nan():
    a = np.ones((2, 3), np.float32)
    assert measure(a, a + 1e-7, F32) == (True, pytest.approx(1e-7, rel=0.2))
    assert measure(a, a + 1e-4, F32)[0] is False
    assert measure(a, a.T, F32) == (False, np.inf)
    assert measure(np.where(a > 0, np.nan, a), a, F32) == (False, np.inf)


def test_the_solver_finds_a_permutation_and_a_transpose_and_refuses_a_changed_block():
    rng = np.random.default_rng(0)
    sources = rng.standard_normal((4, 3, 3))
    targets = sources[[0, 2, 1, 3]].copy()
    targets[3] = targets[3].T
    assert solve_kind(targets, sources, F32)[:3] == ((0, 2, 1, 3), (False, False, False, True), True)
    targets[0, 0, 0] += 1e-3
    assert solve_kind(targets, sources, F32)[2] is False


def test_a_diagnosis_that_names_the_wrong_mistake_is_a_miss():
    seed = Seed("bias", (Mistake("bias", {"fold": "b_hh dropped"}, ""),), None)
    wrong = diagnose_weights(Params.random(GRU), engine_mapping("torch", GRU),
                             apply(engine_mapping("torch", GRU), Params.random(GRU, seed=5), []))
    assert verdict_on(seed, wrong, lambda found: False, unchanged=False) == "missed"
    source = Params.random(GRU, seed=1)
    mapping = engine_mapping("torch", GRU)
    named = diagnose_weights(source, mapping, apply(mapping, Params(GRU, reorder(GRU, dict(source), ("z", "r", "n"))),
                                                    []))
    assert verdict_on(seed, named, lambda found: False, unchanged=False) == "missed"  # named, but not reproduced


def test_reproduce_refuses_a_mistake_not_in_the_catalog():
    with pytest.raises(ValueError, match="not a mistake of this layer's catalog"):
        reproduce(Params.random(GRU), engine_mapping("torch", GRU), (Mistake("layer-order", {"order": [1, 0]}, ""),))


# ----------------------------------------------------------------------------- the reference's gate activation
def test_the_gate_activation_of_the_reference_defaults_to_the_logistic_and_can_be_hard():
    from rnn_ref import forward
    from rnn_ref.diagnosis.conventions import hard_sigmoid
    from rnn_ref.oracle.forward import sigmoid

    params, run = seeded_run(GRU)
    x, state = run.x, State(run.state.h) if run.state is not None else None
    plain = forward(GRU, params, x, state)
    assert np.array_equal(forward(GRU, params, x, state, gate_activation=sigmoid).output, plain.output)
    assert not np.allclose(forward(GRU, params, x, state, gate_activation=hard_sigmoid(0.2)).output, plain.output)
    values = np.array([-4.0, 0.0, 1.0, 2.5, 3.0])
    assert hard_sigmoid(0.2)(values).tolist() == pytest.approx([0.0, 0.5, 0.7, 1.0, 1.0])
    assert hard_sigmoid(1 / 6)(values).tolist() == pytest.approx([0.0, 0.5, 0.5 + 1 / 6, 0.5 + 2.5 / 6, 1.0])


def test_the_backward_state_after_its_first_step_is_the_backward_output_at_the_last_step():
    """With one layer, what the mistaken final state holds is also in the output: the backward half at T-1."""
    spec = RNNSpec("gru", 3, 4, bidirectional=True)
    params = Params.random(spec, seed=2)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    from rnn_ref.diagnosis.conventions import backward_after_first_step

    run = Run(spec, x, None, None)
    result = run_with(params, run, [])
    mistaken = backward_after_first_step(run, dict(params), result)
    assert np.allclose(mistaken.h_n[1], result.output[-1, :, 4:], atol=1e-12)
    assert np.array_equal(mistaken.h_n[0], result.h_n[0])


# ----------------------------------------------------------------------------- the screen of the pairs
def test_the_first_unit_alone_is_the_whole_layers_first_unit_bit_for_bit():
    """The screen's premise: l0.fwd run alone gives the h_n[0] and c_n[0] of the whole layer, exactly."""
    from rnn_ref.diagnosis.conventions import reference

    params, run = seeded_run(LSTM)
    whole = run_with(params, run, [])
    assert run.state is not None and run.state.c is not None and whole.c_n is not None
    own = {k: v for k, v in params.items() if k.startswith("l0.fwd.")}
    alone = reference(run, LSTM.replace(num_layers=1, bidirectional=False), own, run.x,
                      State(run.state.h[:1], run.state.c[:1]), run.lengths)
    assert alone.c_n is not None
    assert np.array_equal(alone.h_n[0], whole.h_n[0]) and np.array_equal(alone.c_n[0], whole.c_n[0])


def seeded_pair(spec):
    """The seeded run of ``spec``, the outputs catalog by sentence, and the outputs (float32) of a gate
    swap with b_hh dropped."""
    from rnn_ref.diagnosis.outputs import candidates_for

    params, run = seeded_run(spec)
    candidates = {c.mistake.says: c for c in candidates_for(run)}
    pair = [next(c for says, c in candidates.items() if f(says))
            for f in (lambda says: "swapped" in says and "gate" in says, lambda says: "b_hh is dropped" in says)]
    seeded = run_with(params, run, pair)
    observed = Observed(*(None if a is None else a.astype(np.float32) for a in (seeded.output, seeded.h_n, seeded.c_n)))
    return params, run, candidates, pair, observed


def test_a_pair_is_ruled_out_on_its_first_unit_only_when_that_unit_misses():
    from rnn_ref.diagnosis.outputs import made
    from rnn_ref.diagnosis.screen import ruled_out

    params, run, candidates, pair, observed = seeded_pair(LSTM)
    reversed_final = next(c for c in candidates.values() if c.mistake.parameters == {"units": "reversed"}
                          and c.kind == "final-state")
    assert not ruled_out(made(params, run, pair), pair, observed, F32)  # the seeded pair: run whole
    assert ruled_out(made(params, run, pair[:1]), pair[:1], observed, F32)  # b_hh is in l0.fwd's states
    both = [pair[0], reversed_final]
    assert not ruled_out(made(params, run, both), both, observed, F32)  # moves h_n: cannot tell


@pytest.mark.parametrize("spec_id", list(SPECS))
def test_with_the_output_alone_a_pair_is_ruled_out_on_the_top_layers_first_step(spec_id):
    from rnn_ref.diagnosis.outputs import made
    from rnn_ref.diagnosis.screen import MARGIN, first_step_misses, ruled_out

    spec = SPECS[spec_id]
    params, run, _, pair, observed = seeded_pair(spec)
    alone = Observed(observed.output)
    assert not ruled_out(made(params, run, pair), pair, alone, F32)
    assert ruled_out(made(params, run, pair[:1]), pair[:1], alone, F32)
    R = spec.state_size
    for step, half, change, missed in ((0, slice(0, R), 3 * F32.atol, True),  # what the screen sees
                                       (0, slice(0, R), F32.atol / 2, False),  # within the tolerance
                                       (0, slice(R, None), 1.0, False), (2, slice(0, R), 1.0, False)):  # unseen
        wrong = alone.output.copy()
        wrong[step, 0, half] += change
        assert first_step_misses(*made(params, run, pair), Observed(wrong), F32) is missed, (step, half, change)
    assert F32.atol / 1000 > MARGIN


def test_a_pair_ruled_out_before_it_was_measured_is_never_the_best_candidate():
    from rnn_ref.diagnosis.catalog import Candidate
    from rnn_ref.diagnosis.search import Outcome, search

    candidates = [Candidate(Mistake("bias", {"n": n}, f"mistake {n}")) for n in range(3)]

    def evaluate(combo):
        mistakes = tuple(candidates[i].mistake for i in combo)
        if len(combo) == 2:  # a lower bound of 0.1, below every measured residual
            return Outcome(False, 0.1, mistakes, measured=False)
        return Outcome(False, 5.0 if not combo else 2.0 + sum(combo), mistakes)  # singles 2, 3, 4

    diagnosis = search(candidates, evaluate, F32)
    assert diagnosis.verdict == "unexplained"
    assert [m.says for m in diagnosis.findings] == ["mistake 0"] and diagnosis.residual == 2.0


def test_a_layers_first_step_alone_is_the_whole_layers_within_the_margin():
    """The output-only screen's premise: the top layer's input at step 0, computed from one step
    forward and each sample's steps reversed backward, is the whole layer's (ragged lengths)."""
    from rnn_ref.diagnosis.conventions import layer_input
    from rnn_ref.diagnosis.screen import MARGIN, first_step, reversed_per_sample

    params, run = seeded_run(LSTM)
    whole = layer_input(run, dict(params), 1)  # layer 0's output, as the whole layer computes it
    assert np.abs(first_step(run, dict(params), 0)[0] - whole[0]).max() < MARGIN / 1000
    assert np.abs(first_step(run, dict(params), 0)[0] - whole[1]).max() > 0.01  # step 0, not another
    steps = np.arange(5)[:, None, None] * np.ones((5, 3, 1))
    assert reversed_per_sample(steps, np.array([5, 3, 2]))[:, :, 0].T.tolist() == [
        [4, 3, 2, 1, 0], [2, 1, 0, 3, 4], [1, 0, 2, 3, 4]]  # padded steps (t >= length) stay in place
