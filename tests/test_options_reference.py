"""The reference's options (design section 2a), forward and backward, as a specification.

* ``activations`` name ONNX's functions in ONNX's order (LSTM f, g, h; GRU f, g; RNN f) with
  ONNX's definitions and defaults; Keras 3's ``hard_sigmoid`` is HardSigmoid(1/6, 0.5) and
  ONNX's default HardSigmoid is (0.2, 0.5): two functions under one name;
* ``clip`` clips every pre-activation before its activation (ONNX's cell clip);
* ``peepholes``: i and f see c_{t-1}, o sees c_t;  ``input_forget``: f = 1 - i;
* ``reverse``: one direction that reads from each sample's last step, which is exactly the
  backward half of a bidirectional layer, its output in original time order;
* ``merge_mode``: a bidirectional layer's two outputs summed, multiplied or averaged at every
  level, so the layers above read R features, not 2R.

Each statement is checked against a second computation: the definitions in scalar ``math``, a
layer the option reduces to, central finite differences (float64, the bound of
tests/test_backward_finite_differences.py), and hand-derived one-step gradients.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, State, backward, forward
from rnn_ref.cases.matrix import OPTION_COMBINATIONS, OPTION_SETS, VARIANTS, option_cases, option_fields
from rnn_ref.core.activations import KINDS, MODE_ACTIVATIONS, Activation, resolved
from rnn_ref.core.errors import SpecError
from rnn_ref.core.params import expected_shapes
from rnn_ref.oracle.backward import _forward_and_backward
from rnn_ref.oracle.finite_differences import numeric_gradients

# --------------------------------------------------------------------------- activations
#: ONNX's definitions (the operator docs' table), in scalar math: the second computation.
DEFINITIONS = {
    "Sigmoid": lambda x, a, b: 1 / (1 + math.exp(-x)),
    "Tanh": lambda x, a, b: math.tanh(x),
    "Relu": lambda x, a, b: max(x, 0.0),
    "HardSigmoid": lambda x, a, b: min(max(a * x + b, 0.0), 1.0),
    "Affine": lambda x, a, b: a * x + b,
    "LeakyRelu": lambda x, a, b: x if x >= 0 else a * x,
    "ThresholdedRelu": lambda x, a, b: x if x >= a else 0.0,
    "ScaledTanh": lambda x, a, b: a * math.tanh(b * x),
    "Elu": lambda x, a, b: x if x >= 0 else a * (math.exp(x) - 1),
    "Softsign": lambda x, a, b: x / (1 + abs(x)),
    "Softplus": lambda x, a, b: math.log(1 + math.exp(x)),
}
#: ONNX's defaults (alpha, beta) of the parametrised activations.
ONNX_DEFAULTS = {"HardSigmoid": (0.2, 0.5), "Affine": (1.0, 0.0), "LeakyRelu": (0.01, None),
                 "ThresholdedRelu": (1.0, None), "ScaledTanh": (1.0, 1.0), "Elu": (1.0, None)}
POINTS = np.array([-7.3, -2.6, -1.1, -0.4, -0.05, 0.03, 0.35, 0.9, 1.7, 3.4, 8.2])


def test_every_onnx_activation_is_known_with_its_defaults():
    assert set(KINDS) == set(DEFINITIONS)
    for name, kind in KINDS.items():
        assert (kind.alpha, kind.beta) == ONNX_DEFAULTS.get(name, (None, None)), name


@pytest.mark.parametrize("name", list(DEFINITIONS))
@pytest.mark.parametrize("alpha_beta", [None, (0.3, 0.6)], ids=["defaults", "alpha0.3-beta0.6"])
def test_an_activation_is_onnxs_definition(name, alpha_beta):
    act = resolved(name, *(alpha_beta or (None, None)))
    expected = [DEFINITIONS[name](float(x), act.alpha, act.beta) for x in POINTS]
    np.testing.assert_allclose(act(POINTS.copy()), expected, rtol=1e-15, atol=1e-16)
    in_place = POINTS.copy()
    assert act(in_place, out=in_place) is in_place
    np.testing.assert_allclose(in_place, expected, rtol=1e-15, atol=1e-16)
    assert act(POINTS.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_an_activations_derivative_is_its_difference_quotient(name):
    act = resolved(name, 0.3, 0.6) if KINDS[name].alpha is not None else resolved(name)
    away = np.array([x for x in POINTS if all(abs(x - k) > 1e-3 for k in act.kinks)])
    eps = 1e-6
    quotient = (act(away + eps) - act(away - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(away, act(away)), quotient, rtol=1e-7, atol=1e-9)


def test_keras3_and_onnx_hard_sigmoids_are_different_functions():
    """Keras 3's hard_sigmoid, relu6(x + 3) / 6, is HardSigmoid(1/6, 0.5); ONNX's default slope
    is 0.2 (Keras 2's hard_sigmoid): at x = 1 they give 0.6667 and 0.7."""
    keras3 = resolved("HardSigmoid", 1 / 6, 0.5)
    relu6 = np.minimum(np.maximum(POINTS + 3, 0), 6) / 6
    np.testing.assert_allclose(keras3(POINTS.copy()), relu6, rtol=0, atol=1e-15)
    assert resolved("HardSigmoid")(np.array([1.0]))[0] == pytest.approx(0.7)
    assert keras3(np.array([1.0]))[0] == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- the spec
def test_the_modes_own_activations_written_out_are_the_default_spec():
    plain = RNNSpec("lstm", 3, 4)
    assert RNNSpec("lstm", 3, 4, activations=("Sigmoid", "Tanh", "Tanh")) == plain
    assert RNNSpec("gru", 3, 4, activations=["Sigmoid", "Tanh"]) == RNNSpec("gru", 3, 4)
    assert plain.options == () and plain.resolved_activations == tuple(resolved(n) for n in MODE_ACTIVATIONS["lstm"])


def test_activation_parameters_are_stored_resolved():
    spec = RNNSpec("lstm", 3, 4, activations=("HardSigmoid", "LeakyRelu", "Tanh"))
    assert spec.activation_alpha == (0.2, 0.01, 0.0) and spec.activation_beta == (0.5, 0.0, 0.0)
    assert spec.resolved_activations[1] == Activation("LeakyRelu", 0.01, 0.0)
    assert spec == spec.replace(activation_alpha=(0.2, 0.01, 7.0))  # Tanh ignores its alpha
    assert spec.options == ("activations",)


@pytest.mark.parametrize(("fields", "message"), [
    (dict(mode="gru", peepholes=True), "peepholes=True is only allowed for mode='lstm'"),
    (dict(mode="rnn_tanh", input_forget=True), "input_forget=True is only allowed for mode='lstm'"),
    (dict(mode="lstm", reverse=True, bidirectional=True), "reverse=True is for a unidirectional layer"),
    (dict(mode="lstm", merge_mode="sum"), "merge_mode='sum' needs bidirectional=True"),
    (dict(mode="lstm", bidirectional=True, merge_mode="max"), "merge_mode='max' is not one of"),
    (dict(mode="lstm", activations=("Sigmoid", "Tanh")), "mode 'lstm' has 3"),
    (dict(mode="gru", activations=("Sigmoid", "Gelu")), "unknown activation"),
    (dict(mode="gru", activations="Sigmoid"), "must be a sequence of names"),
    (dict(mode="gru", activations=("Sigmoid", "Tanh"), activation_alpha=(1.0,)), "must hold 2 finite numbers"),
    (dict(mode="gru", activation_alpha=(1.0, 2.0)), "need activations"),
    (dict(mode="lstm", clip=0.0), "clip=0.0 must be a finite number > 0"),
    (dict(mode="lstm", clip=float("inf")), "must be a finite number"),
    (dict(mode="lstm", clip=True), "must be a finite number"),
    (dict(mode="lstm", peepholes=1), "peepholes=1 must be True or False"),
])
def test_an_option_that_does_not_apply_is_refused_by_name(fields, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RNNSpec(input_size=3, hidden_size=4, **fields)


def test_options_round_trip_through_json_and_are_left_out_at_their_defaults():
    assert set(RNNSpec("lstm", 3, 4).to_dict()) == {f.name for f in dataclasses.fields(RNNSpec)} - {
        "activations", "activation_alpha", "activation_beta", "clip", "peepholes", "input_forget", "reverse",
        "merge_mode"}
    for case in option_cases():
        data = case.spec.to_dict()
        assert RNNSpec.from_dict(data) == case.spec, case.id


def test_peepholes_and_merge_modes_change_the_parameters():
    peep = expected_shapes(RNNSpec("lstm", 3, 4, peepholes=True))
    assert [k for k in peep if "w_peep" in k] == ["l0.fwd.w_peep.i", "l0.fwd.w_peep.f", "l0.fwd.w_peep.o"]
    assert peep["l0.fwd.w_peep.o"] == (4,)
    merged = RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True, merge_mode="ave")
    assert merged.output_size == 4 and expected_shapes(merged)["l1.bwd.w_ih.r"] == (4, 4)
    assert next(iter(expected_shapes(RNNSpec("gru", 3, 4, reverse=True)))) == "l0.bwd.w_ih.r"
    for spec in (RNNSpec("lstm", 3, 4, peepholes=True, num_layers=2), merged):
        assert spec.parameter_count == sum(math.prod(s) for s in expected_shapes(spec).values())


# --------------------------------------------------------------------------- what options reduce to
def draw(spec: RNNSpec, seed: int, steps: int = 5, batch: int = 3, lengths=(5, 2, 4)):
    rng = np.random.default_rng(seed)
    params = Params.random(spec, seed=seed)
    shape = (steps, batch, spec.input_size) if spec.layout == "TNC" else (batch, steps, spec.input_size)
    units = spec.num_layers * spec.num_directions
    state = State(rng.standard_normal((units, batch, spec.state_size)),
                  rng.standard_normal((units, batch, spec.hidden_size)) if spec.has_cell_state else None)
    return params, rng.standard_normal(shape), state, None if lengths is None else np.array(lengths)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_a_reverse_layer_is_the_backward_half_of_a_bidirectional_one(mode, layout):
    bi = RNNSpec(mode, 3, 4, bidirectional=True, layout=layout)
    params, x, state, lengths = draw(bi, 1)
    rev = RNNSpec(mode, 3, 4, reverse=True, layout=layout)
    rev_params = Params(rev, {k: v for k, v in params.items() if k.startswith("l0.bwd.")})
    rev_state = State(state.h[1:], None if state.c is None else state.c[1:])
    whole, alone = forward(bi, params, x, state, lengths), forward(rev, rev_params, x, rev_state, lengths)
    np.testing.assert_array_equal(alone.output, whole.output[..., 4:])
    np.testing.assert_array_equal(alone.h_n, whole.h_n[1:])
    # it reads each sample from its last step: sample 1 (2 steps) ends at its step 0
    first = alone.output[0, 1] if layout == "TNC" else alone.output[1, 0]
    np.testing.assert_array_equal(alone.h_n[0, 1], first)


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_a_merged_layer_combines_what_concat_returns(merge_mode):
    concat = RNNSpec("lstm", 3, 4, bidirectional=True)
    params, x, state, lengths = draw(concat, 2)
    merged_spec = concat.replace(merge_mode=merge_mode)
    both = forward(concat, params, x, state, lengths)
    merged = forward(merged_spec, Params(merged_spec, params), x, state, lengths)
    f, b = both.output[..., :4], both.output[..., 4:]
    expected = {"sum": f + b, "mul": f * b, "ave": (f + b) / 2}[merge_mode]
    np.testing.assert_array_equal(merged.output, expected)
    np.testing.assert_array_equal(merged.h_n, both.h_n)  # final states stay per direction


def test_peepholes_at_zero_are_the_plain_lstm_and_otherwise_are_not():
    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True, peepholes=True)
    params, x, state, lengths = draw(spec, 3)
    plain_spec = spec.replace(peepholes=False)
    plain = Params(plain_spec, {k: v for k, v in params.items() if "w_peep" not in k})
    zero = Params(spec, {k: np.zeros_like(v) if "w_peep" in k else v for k, v in params.items()})
    expected = forward(plain_spec, plain, x, state, lengths)
    np.testing.assert_array_equal(forward(spec, zero, x, state, lengths).output, expected.output)
    assert np.abs(forward(spec, params, x, state, lengths).output - expected.output).max() > 1e-3


def test_coupled_gates_ignore_the_forget_gates_weights():
    spec = RNNSpec("lstm", 3, 4, input_forget=True)
    params, x, state, lengths = draw(spec, 4)
    moved = Params(spec, {k: v + 1.0 if k.endswith(".f") else v for k, v in params.items()})
    assert any(not np.array_equal(params[k], moved[k]) for k in params)
    np.testing.assert_array_equal(forward(spec, params, x, state, lengths).output,
                                  forward(spec, moved, x, state, lengths).output)
    plain_spec = spec.replace(input_forget=False)
    plain = forward(plain_spec, Params(plain_spec, params), x, state, lengths)
    assert np.abs(forward(spec, params, x, state, lengths).output - plain.output).max() > 1e-3


def test_a_clip_no_pre_activation_reaches_changes_nothing_and_a_tight_one_does():
    spec = RNNSpec("gru", 3, 4, clip=1e6)
    params, x, state, lengths = draw(spec, 5)
    plain_spec, tight = spec.replace(clip=None), spec.replace(clip=0.1)
    plain = forward(plain_spec, Params(plain_spec, params), x, state, lengths)
    np.testing.assert_array_equal(forward(spec, params, x, state, lengths).output, plain.output)
    assert np.abs(forward(tight, Params(tight, params), x, state, lengths).output - plain.output).max() > 1e-3


def test_the_fast_forward_is_bptts_per_gate_forward_on_every_option_case():
    """The stacked, in-place forward and BPTT's gate-by-gate forward are two writings of the
    equations: on every option case of the matrix they agree to float64 rounding."""
    worst = 0.0
    for case in option_cases():
        data = case.data()
        args = (case.spec, data.params, data.x, data.initial_state, data.lengths)
        fast = forward(*args)
        slow, _, _ = _forward_and_backward(*args, grad_output=np.zeros_like(fast.output), grad_h_n=None,
                                           grad_c_n=None, precision="float64")
        for name in ("output", "h_n", "c_n"):
            if getattr(fast, name) is not None:
                worst = max(worst, float(np.abs(getattr(fast, name) - getattr(slow, name)).max()))
    assert worst <= 1e-13, worst


# --------------------------------------------------------------------------- finite differences
ATOL, RTOL = 1e-8, 1e-6
#: a pre-activation closer than this to a kink of its activation or to ±clip is redrawn
KINK_MARGIN = 1e-4


def spec_for(tokens: tuple[str, ...], variant: str, layers: int) -> RNNSpec | None:
    base = VARIANTS[variant] | ({"proj_size": 1} if "proj_size" in VARIANTS[variant] else {})
    fields = option_fields(tokens, base["mode"])
    if fields is None:
        return None
    wanted = {OPTION_SETS[t].bidirectional for t in tokens} - {None}
    bidirectional = wanted.pop() if wanted else layers == 2
    return RNNSpec(input_size=2, hidden_size=2, num_layers=layers, bidirectional=bidirectional, **base, **fields)


FD_SPECS = [
    (f"{variant}-L{layers}-{'-'.join(tokens)}", spec)
    for tokens, variants in [((t,), tuple(VARIANTS)) for t in OPTION_SETS] + list(OPTION_COMBINATIONS.items())
    for variant, layers in itertools.product(variants, (1, 2))
    if (spec := spec_for(tokens, variant, layers)) is not None
]


def kink_margin(tapes) -> float:
    """The smallest distance of an existing step's pre-activation from a kink of its activation
    or from ±clip, over every activation the tapes saved."""
    margin = math.inf
    for tape in tapes:
        for _, exists, cache in tape.steps:
            saved = [cache.get("act"), *list(cache.get("saved", {}).values())]
            for record in (s for s in saved if s is not None):
                if record["raw"] is None:  # kept for every kinked or clipped activation: this one is smooth
                    assert not record["act"].kinks and record["clip"] is None
                    continue
                raw = record["raw"][exists[:, 0]]
                points = [*record["act"].kinks] if isinstance(record["act"], Activation) else []
                if record["clip"] is not None:
                    points += [record["clip"], -record["clip"]]
                for point in points:
                    margin = min(margin, float(np.abs(raw - point).min(initial=np.inf)))
    return margin


@pytest.mark.parametrize("spec", [s for _, s in FD_SPECS], ids=[i for i, _ in FD_SPECS])
def test_bptt_with_options_matches_finite_differences(spec):
    seed = zlib.crc32(repr(spec).encode())
    for attempt in range(20):
        params, x, state, lengths = draw(spec, seed + attempt, steps=2, batch=2, lengths=(2, 1))
        rng = np.random.default_rng(seed + attempt)
        out = forward(spec, params, x, state, lengths)
        cot = dict(grad_output=rng.standard_normal(out.output.shape), grad_h_n=rng.standard_normal(out.h_n.shape),
                   grad_c_n=rng.standard_normal(out.c_n.shape) if spec.has_cell_state else None)
        _, grads, tapes = _forward_and_backward(spec, params, x, state, lengths, precision="float64", **cot)
        if kink_margin(tapes) > KINK_MARGIN:
            break
    else:
        pytest.fail(f"no draw keeps every pre-activation {KINK_MARGIN} away from a kink")
    numeric = numeric_gradients(spec, params, x, state, lengths, **cot)
    pairs = [("x", grads.x, numeric.x), ("h0", grads.h0, numeric.h0)]
    pairs += [("c0", grads.c0, numeric.c0)] if spec.has_cell_state else []
    pairs += [(key, grads.params[key], numeric.params[key]) for key in params]
    for name, analytic, approximate in pairs:
        error, allowed = np.abs(analytic - approximate), ATOL + RTOL * np.abs(analytic)
        assert (error <= allowed).all(), f"{name}: worst |error| {error.max():.2e}"


def test_the_finite_difference_check_catches_a_peephole_gradient_left_out(monkeypatch):
    """The check can fail: a BPTT whose cell state gradient forgets the peepholes' path is caught."""
    import importlib

    cells = importlib.import_module("rnn_ref.oracle.cells")
    honest = cells.lstm_cell_backward

    def forgetful(cache, dh_next, dc_next, w):
        step = honest(cache, dh_next, dc_next, w)
        step.dc = step.dc - step.da["i"] * w.w_peep["i"]  # drop p_i's share of dc_{t-1}
        return step

    monkeypatch.setattr(cells, "lstm_cell_backward", forgetful)
    spec = RNNSpec("lstm", 2, 2, peepholes=True)
    with pytest.raises(AssertionError, match="worst"):
        test_bptt_with_options_matches_finite_differences(spec)


# --------------------------------------------------------------------------- one step by hand
# T = 1, N = 1, I = H = 1: x = 0.5, h0 = 0.2, c0 = -0.3; loss = 1.0·output + 0.5·h_n (- 2.0·c_n).
X, H0, C0 = 0.5, 0.2, -0.3
DH = 1.5


def one_step(spec: RNNSpec, weights: dict[str, float]) -> dict[str, float]:
    unit = spec.directions[0]
    params = Params(spec, {f"l0.{unit}.{k}": np.array(v).reshape((1, 1) if k[:4] in ("w_ih", "w_hh") else (1,))
                           for k, v in weights.items()})
    state = State(np.full((1, 1, 1), H0), np.full((1, 1, 1), C0) if spec.has_cell_state else None)
    grads = backward(spec, params, np.full((1, 1, 1), X), state, grad_output=np.ones((1, 1, 1)),
                     grad_h_n=np.full((1, 1, 1), 0.5),
                     grad_c_n=np.full((1, 1, 1), -2.0) if spec.has_cell_state else None)
    flat = {"x": grads.x.item(), "h0": grads.h0.item()} | ({"c0": grads.c0.item()} if spec.has_cell_state else {})
    return flat | {key.split(".", 2)[2]: block.item() for key, block in grads.params.items()}


def sigma(a: float) -> float:
    return 1 / (1 + math.exp(-a))


LSTM = {"w_ih.i": 0.3, "w_ih.f": -0.2, "w_ih.g": 0.4, "w_ih.o": 0.1, "w_hh.i": -0.1, "w_hh.f": 0.2,
        "w_hh.g": -0.3, "w_hh.o": 0.5, "b_ih.i": 0.05, "b_ih.f": 0.1, "b_ih.g": -0.05, "b_ih.o": 0.0,
        "b_hh.i": 0.0, "b_hh.f": 0.05, "b_hh.g": 0.1, "b_hh.o": -0.1}


def lstm_pre(gate: str) -> float:
    return LSTM[f"w_ih.{gate}"] * X + LSTM[f"b_ih.{gate}"] + LSTM[f"w_hh.{gate}"] * H0 + LSTM[f"b_hh.{gate}"]


def test_a_peephole_lstm_step_by_hand():
    p = {"i": 0.7, "f": -0.4, "o": 0.6}
    a_i, a_f, a_g = lstm_pre("i") + p["i"] * C0, lstm_pre("f") + p["f"] * C0, lstm_pre("g")
    i, f, g = sigma(a_i), sigma(a_f), math.tanh(a_g)
    c = f * C0 + i * g
    a_o = lstm_pre("o") + p["o"] * c
    o = sigma(a_o)
    # dL/dc' = -2.0 (c_n) + dh'·o·tanh'(c') + (through a_o) da_o·p_o
    da_o = DH * math.tanh(c) * o * (1 - o)
    dc = -2.0 + DH * o * (1 - math.tanh(c) ** 2) + da_o * p["o"]
    da_i, da_f, da_g = dc * g * i * (1 - i), dc * C0 * f * (1 - f), dc * i * (1 - g * g)
    got = one_step(RNNSpec("lstm", 1, 1, peepholes=True), LSTM | {f"w_peep.{k}": v for k, v in p.items()})
    da = {"i": da_i, "f": da_f, "g": da_g, "o": da_o}
    assert got["w_peep.i"] == pytest.approx(da_i * C0, abs=1e-12)
    assert got["w_peep.f"] == pytest.approx(da_f * C0, abs=1e-12)
    assert got["w_peep.o"] == pytest.approx(da_o * c, abs=1e-12)
    assert got["c0"] == pytest.approx(dc * f + da_i * p["i"] + da_f * p["f"], abs=1e-12)
    assert got["h0"] == pytest.approx(sum(da[k] * LSTM[f"w_hh.{k}"] for k in "ifgo"), abs=1e-12)
    assert got["x"] == pytest.approx(sum(da[k] * LSTM[f"w_ih.{k}"] for k in "ifgo"), abs=1e-12)


def test_a_coupled_gate_lstm_step_by_hand():
    i, g, o = sigma(lstm_pre("i")), math.tanh(lstm_pre("g")), sigma(lstm_pre("o"))
    f = 1 - i
    c = f * C0 + i * g
    dc = -2.0 + DH * o * (1 - math.tanh(c) ** 2)
    # c' = (1 - i)·c + i·g: dc'/di = g - c
    da_i = dc * (g - C0) * i * (1 - i)
    got = one_step(RNNSpec("lstm", 1, 1, input_forget=True), LSTM)
    assert got["w_ih.f"] == 0.0 and got["b_hh.f"] == 0.0
    assert got["b_ih.i"] == pytest.approx(da_i, abs=1e-12)
    assert got["c0"] == pytest.approx(dc * f, abs=1e-12)


def test_a_clipped_rnn_step_passes_no_gradient_through_the_clip_by_hand():
    weights = {"w_ih.h": 2.0, "w_hh.h": 1.0, "b_ih.h": 0.3, "b_hh.h": 0.1}
    a = 2.0 * X + 0.3 + 1.0 * H0 + 0.1  # 1.6, clipped to 1.0
    got = one_step(RNNSpec("rnn_tanh", 1, 1, clip=1.0), weights)
    assert got == {k: 0.0 for k in ("x", "h0", "w_ih.h", "w_hh.h", "b_ih.h", "b_hh.h")}
    da = DH * (1 - math.tanh(a) ** 2)
    assert one_step(RNNSpec("rnn_tanh", 1, 1, clip=2.0), weights)["x"] == pytest.approx(2.0 * da, abs=1e-12)


def test_a_hard_sigmoid_gru_step_by_hand():
    weights = {f"{kind}.{gate}": value for (kind, gate), value in zip(
        itertools.product(("w_ih", "w_hh", "b_ih", "b_hh"), "rzn"),
        (0.3, -0.2, 0.4, 0.5, 0.1, -0.3, 0.05, 0.1, -0.05, 0.0, 0.05, 0.1), strict=True)}
    alpha, beta = 1 / 6, 0.5
    spec = RNNSpec("gru", 1, 1, activations=("HardSigmoid", "Softsign"), activation_alpha=(alpha, 0.0),
                   activation_beta=(beta, 0.0))

    def pre(gate):
        return weights[f"w_ih.{gate}"] * X + weights[f"b_ih.{gate}"] + weights[f"w_hh.{gate}"] * H0 + weights[
            f"b_hh.{gate}"]

    r, z = alpha * pre("r") + beta, alpha * pre("z") + beta  # inside (0, 1): no corner
    hn = weights["w_hh.n"] * H0 + weights["b_hh.n"]
    a_n = weights["w_ih.n"] * X + weights["b_ih.n"] + r * hn
    n = a_n / (1 + abs(a_n))
    dn = DH * (1 - z)
    da_n = dn / (1 + abs(a_n)) ** 2
    da_z = DH * (H0 - n) * alpha
    da_r = da_n * hn * alpha
    got = one_step(spec, weights)
    assert got["b_ih.n"] == pytest.approx(da_n, abs=1e-12)
    assert got["b_ih.z"] == pytest.approx(da_z, abs=1e-12)
    assert got["b_ih.r"] == pytest.approx(da_r, abs=1e-12)
    assert got["h0"] == pytest.approx(DH * z + da_n * r * weights["w_hh.n"] + da_r * weights["w_hh.r"]
                                      + da_z * weights["w_hh.z"], abs=1e-12)


def test_a_multiplied_bidirectional_step_by_hand():
    """One step of both directions (T = 1: each reads x once); output y = h_f·h_b."""
    spec = RNNSpec("rnn_tanh", 1, 1, bidirectional=True, merge_mode="mul")
    w = {"fwd": (0.3, -0.4, 0.1, 0.05), "bwd": (-0.6, 0.2, 0.0, 0.1)}
    params = Params(spec, {f"l0.{d}.{k}.h": np.array(v).reshape((1, 1) if k[0] == "w" else (1,))
                           for d, vs in w.items() for k, v in zip(("w_ih", "w_hh", "b_ih", "b_hh"), vs, strict=True)})
    h = {d: math.tanh(vs[0] * X + vs[2] + vs[1] * H0 + vs[3]) for d, vs in w.items()}
    grads = backward(spec, params, np.full((1, 1, 1), X), State(np.full((2, 1, 1), H0)),
                     grad_output=np.ones((1, 1, 1)), grad_h_n=np.zeros((2, 1, 1)))
    # dL/dh_f = h_b, dL/dh_b = h_f
    da = {"fwd": h["bwd"] * (1 - h["fwd"] ** 2), "bwd": h["fwd"] * (1 - h["bwd"] ** 2)}
    assert grads.x.item() == pytest.approx(w["fwd"][0] * da["fwd"] + w["bwd"][0] * da["bwd"], abs=1e-12)
    assert grads.params["l0.bwd.b_hh.h"].item() == pytest.approx(da["bwd"], abs=1e-12)
