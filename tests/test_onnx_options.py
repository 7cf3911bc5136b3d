"""The options on ONNX's runtimes: what onnxruntime 1.32 and onnx.reference compute for each, measured.

The models are the ``onnx`` engine's (rnn_ref/adapters/onnx/model.py): the options are the
nodes' attributes (``activations``, ``activation_alpha``, ``activation_beta``, ``clip``,
``input_forget``, ``direction="reverse"``) and the LSTM input ``P``. Each convention test pins
one thing onnxruntime does by holding it to the reference *and* to the reading it could
otherwise have had (the peephole term outside the clip, P in the canonical order, one alpha
per activation, ...), which must then be wrong. The last test draws random layers over every
option and holds both runtimes to the reference, or to their declared defects' signatures
(onnx.reference ignores clip, LSTM and GRU activations and input_forget). Run in the onnx env.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters.onnx.model import build_model, node_attributes, onnx_mapping
from rnn_ref.cases.defects import KnownDefectReproduced, expect_defect
from rnn_ref.core.activations import KINDS, MODE_ACTIVATIONS
from rnn_ref.core.compare import TOLERANCES, compare
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.core.params import expected_shapes
from rnn_ref.core.state import State

pytestmark = pytest.mark.engine

ATOL = 1e-6  # float32 on layers of H = 4, T = 6: the measured errors are 3e-8 to 4e-7


def scaled(spec: RNNSpec, seed: int = 0, weights: float = 1.0, peepholes: float = 1.0) -> Params:
    """Seeded params with the weights (and peepholes) scaled, so that a clip at 0.5 cuts often."""
    params = Params.random(spec, seed=seed)
    return Params(spec, {key: (peepholes if ".w_peep." in key else weights) * value
                         for key, value in params.items()}).astype(np.float32)


def run_ort(spec: RNNSpec, params: Params, x: np.ndarray) -> np.ndarray:
    """The onnx engine's model of ``params`` on onnxruntime: its output Y."""
    from rnn_ref.adapters.onnx.runtime import ort_session

    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params))
    return ort_session(model).run(None, {"X": x})[0]


def inputs(spec: RNNSpec, scale: float = 1.0, steps: int = 6, batch: int = 3) -> np.ndarray:
    return (scale * np.random.default_rng(1).standard_normal((steps, batch, spec.input_size))).astype(np.float32)


def lstm_loop(params: Params, x: np.ndarray, clip: float, peephole_in_clip: bool = True,
              cell_clipped: bool = False) -> np.ndarray:
    """A one-direction LSTM written out step by step, for the readings of ONNX's clip that are not onnxruntime's."""
    def weight(name):
        return params[f"l0.fwd.{name}"].astype(np.float64)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    def cut(v):
        return np.clip(v, -clip, clip)

    hidden = params["l0.fwd.w_hh.i"].shape[0]
    h, c, ys = np.zeros((x.shape[1], hidden)), np.zeros((x.shape[1], hidden)), []
    peep = {g: weight(f"w_peep.{g}") if params.spec.peepholes else 0.0 for g in "ifo"}
    for step in x.astype(np.float64):
        a = {g: step @ weight(f"w_ih.{g}").T + weight(f"b_ih.{g}") + h @ weight(f"w_hh.{g}").T + weight(f"b_hh.{g}")
             for g in "ifgo"}
        if peephole_in_clip:
            i, f = sigmoid(cut(a["i"] + peep["i"] * c)), sigmoid(cut(a["f"] + peep["f"] * c))
        else:
            i, f = sigmoid(cut(a["i"]) + peep["i"] * c), sigmoid(cut(a["f"]) + peep["f"] * c)
        c = f * c + i * np.tanh(cut(a["g"]))
        o = sigmoid(cut(a["o"] + peep["o"] * c)) if peephole_in_clip else sigmoid(cut(a["o"]) + peep["o"] * c)
        h = o * np.tanh(cut(c) if cell_clipped else c)
        ys.append(h)
    return np.stack(ys)


def on(params: Params, spec: RNNSpec) -> Params:
    """The same blocks as the params of ``spec``, a layer with the same weights and other options."""
    return Params(spec, {key: params[key] for key in expected_shapes(spec)})


def max_error(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


# ----------------------------------------------------------------------------- onnxruntime, each option
def test_onnxruntime_clips_every_gate_pre_activation_with_its_peephole_term_inside(engine_or_skip):
    """ONNX: clip "is applied to the input of activations"; onnxruntime clips a_i + p_i⊙c (the peephole
    term inside), as the reference does, not the weights' part alone with the peephole added after."""
    engine_or_skip("onnx")
    spec = RNNSpec("lstm", 3, 4, peepholes=True, clip=0.5)
    params = scaled(spec, weights=2.0, peepholes=4.0)
    x = inputs(spec, scale=2.0)
    y = run_ort(spec, params, x)
    assert max_error(y, forward(spec, params, x).output) < ATOL
    assert max_error(y, lstm_loop(params, x, 0.5)) < ATOL  # the same, written out
    assert max_error(y, lstm_loop(params, x, 0.5, peephole_in_clip=False)) > 1e-2
    assert max_error(y, forward(spec.replace(clip=None), on(params, spec.replace(clip=None)), x).output) > 1e-1


def test_onnxruntime_does_not_clip_the_cell_state_before_h(engine_or_skip):
    """h = o⊙h(c): the input of h is the cell state, which onnxruntime does not clip (microsoft/onnxruntime
    #27224 asks whether it should; closed stale). With |c| up to 0.33 past a clip of 0.3, clipping it
    too would change the output by 1e-2."""
    engine_or_skip("onnx")
    spec = RNNSpec("lstm", 3, 4, clip=0.3)
    params = scaled(spec, weights=4.0)
    x = inputs(spec, scale=3.0, steps=8)
    y = run_ort(spec, params, x)
    assert max_error(y, forward(spec, params, x).output) < ATOL
    assert max_error(y, lstm_loop(params, x, 0.3, cell_clipped=True)) > 5e-3


def test_onnxruntime_couples_the_gates_as_f_equal_one_minus_i(engine_or_skip):
    """input_forget=1: f = 1 - i, the forget gate's own weights unused (changing them changes nothing)."""
    engine_or_skip("onnx")
    spec = RNNSpec("lstm", 3, 4, input_forget=True)
    params = scaled(spec)
    x = inputs(spec)
    y = run_ort(spec, params, x)
    assert max_error(y, forward(spec, params, x).output) < ATOL
    plain = spec.replace(input_forget=False)
    assert max_error(y, forward(plain, on(params, plain), x).output) > 1e-2
    other_forget = Params(spec, {k: (v + 1 if k.endswith(".f") else v) for k, v in params.items()})
    np.testing.assert_array_equal(run_ort(spec, other_forget, x), y)


def test_onnx_stacks_the_peepholes_i_o_f(engine_or_skip):
    """P (D, 3H) = [p_i, p_o, p_f]: ONNX's order, not the canonical i f o. onnxruntime reads it so; the rows
    put w_peep.o at P[d, H:2H]."""
    engine_or_skip("onnx")
    spec = RNNSpec("lstm", 3, 4, peepholes=True, bidirectional=True)
    params = scaled(spec, peepholes=3.0)
    native = onnx_mapping("onnx", spec).to_native(params)
    np.testing.assert_array_equal(native["l0.P"][1, 4:8], params["l0.bwd.w_peep.o"])
    np.testing.assert_array_equal(native["l0.P"][0, 8:12], params["l0.fwd.w_peep.f"])
    x = inputs(spec)
    y = run_ort(spec, params, x)
    assert max_error(y, forward(spec, params, x).output) < ATOL
    swapped = Params(spec, {k: params[k.replace("w_peep.f", "w_peep.o") if "w_peep.f" in k else
                                      k.replace("w_peep.o", "w_peep.f") if "w_peep.o" in k else k] for k in params})
    assert max_error(y, forward(spec, swapped, x).output) > 1e-2


def test_activation_alpha_goes_to_the_next_activation_that_takes_one(engine_or_skip):
    """ONNX's rule as onnxruntime reads it: HardSigmoid, Tanh, LeakyRelu with activation_alpha [0.3, 0.1]
    is HardSigmoid(0.3) and LeakyRelu(0.1). Read as one value per activation, [0.3, 0.0, 0.1] would mean
    the same; onnxruntime gives its 0.0 to LeakyRelu instead (and drops the 0.1)."""
    engine_or_skip("onnx")
    from rnn_ref.adapters.onnx.runtime import ort_session

    names = ("HardSigmoid", "Tanh", "LeakyRelu")
    spec = RNNSpec("lstm", 3, 4, activations=names, activation_alpha=(0.3, 0.0, 0.1), activation_beta=(0.6, 0, 0))
    assert node_attributes(spec)["activation_alpha"] == pytest.approx([0.3, 0.1])
    assert node_attributes(spec)["activation_beta"] == pytest.approx([0.6])
    params = scaled(spec)
    x = inputs(spec, scale=1.5)
    assert max_error(run_ort(spec, params, x), forward(spec, params, x).output) < ATOL
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params))
    alpha = next(a for a in model.graph.node if a.op_type == "LSTM").attribute
    next(a for a in alpha if a.name == "activation_alpha").floats[:] = [0.3, 0.0, 0.1]
    one_each = ort_session(model).run(None, {"X": x})[0]
    leaky_zero = spec.replace(activation_alpha=(0.3, 0.0, 0.0))
    assert max_error(one_each, forward(leaky_zero, on(params, leaky_zero), x).output) < ATOL
    assert max_error(one_each, forward(spec, params, x).output) > 1e-3


@pytest.mark.parametrize("name", list(KINDS))
def test_every_activation_in_every_slot_runs_on_onnxruntime_as_the_reference(engine_or_skip, name):
    """The activation ``name`` in each slot of each op (LSTM f, g, h; GRU f, g; RNN f), with explicit
    parameters where it takes them (alpha 0.7, beta 0.3: none of the defaults)."""
    engine_or_skip("onnx")
    for mode in ("lstm", "gru", "rnn_tanh"):
        for slot in range(len(MODE_ACTIVATIONS[mode])):
            names = list(MODE_ACTIVATIONS[mode])
            names[slot] = name
            alpha = tuple(0.7 if KINDS[n].alpha is not None else 0.0 for n in names)
            beta = tuple(0.3 if KINDS[n].beta is not None else 0.0 for n in names)
            spec = RNNSpec(mode, 3, 4, activations=tuple(names), activation_alpha=alpha, activation_beta=beta)
            params = scaled(spec)
            x = inputs(spec, scale=1.5)
            error = max_error(run_ort(spec, params, x), forward(spec, params, x).output)
            assert error < ATOL, f"{mode} {names}: {error:.3g}"


def test_onnxruntime_reverse_reads_each_sample_from_its_last_step(engine_or_skip):
    """direction="reverse" with sequence_lens [6, 2, 4]: each sample starts at its last valid step, the
    output in original time order, zeros at padded steps; Y_h is the state after step 0."""
    adapter = engine_or_skip("onnx")
    spec = RNNSpec("gru", 3, 4, reverse=True)
    params = scaled(spec)
    x = inputs(spec)
    lengths = np.array([6, 2, 4])
    result = adapter.run(spec, adapter.build(spec, params), x, None, lengths)
    expected = forward(spec, params, x, lengths=lengths)
    for tensor in ("output", "h_n"):
        comparison = compare(tensor, getattr(result, tensor), getattr(expected, tensor), TOLERANCES["float32"])
        assert comparison.passed, comparison.describe()
    assert (result.output[2:, 1] == 0).all()


#: onnxruntime 1.32's defaults of activation_alpha/beta (onnxruntime/core/providers/cpu/rnn/rnn_helpers.cc,
#: NameToArgDefaultsMap, which lists LeakyRelu, HardSigmoid and Elu only) where ONNX's text says "the same as
#: of corresponding ONNX operators": no upstream report found.
ORT_DEFAULTS = ("onnxruntime 1.32 gives Affine, ThresholdedRelu and ScaledTanh left without activation_alpha/beta "
                "the parameters 0 (rnn_helpers.cc NameToArgDefaultsMap lists LeakyRelu, HardSigmoid and Elu only), "
                "not ONNX's defaults (Affine 1, 0; ThresholdedRelu 1; ScaledTanh 1, 1); no upstream report found. "
                "The onnx engine writes every parameter, so its models never meet it")


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced, reason=ORT_DEFAULTS)
@pytest.mark.parametrize("name", ["Affine", "ThresholdedRelu", "ScaledTanh"])
def test_onnxruntime_defaults_of_activation_parameters_are_onnx_s(engine_or_skip, name):
    """A file that lists ``name`` without its parameters means ONNX's defaults (the reader takes them so);
    onnxruntime computes with 0 instead."""
    engine_or_skip("onnx")
    from rnn_ref.adapters.onnx.runtime import ort_session

    names = ("Sigmoid", name, "Tanh")
    spec = RNNSpec("lstm", 3, 4, activations=names)  # ONNX's defaults, resolved
    params = scaled(spec)
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params))
    node = next(n for n in model.graph.node if n.op_type == "LSTM")
    kept = [a for a in node.attribute if a.name not in ("activation_alpha", "activation_beta")]
    del node.attribute[:]
    node.attribute.extend(kept)
    x = inputs(spec, scale=1.5)
    y = ort_session(model).run(None, {"X": x})[0]
    zeros = spec.replace(activation_alpha=(0.0,) * 3, activation_beta=(0.0,) * 3)
    expect_defect(ORT_DEFAULTS, "computes with the parameters 0",
                  correct=max_error(y, forward(spec, params, x).output) < ATOL,
                  matches_signature=max_error(y, forward(zeros, on(params, zeros), x).output) < ATOL,
                  seen=f"{max_error(y, forward(spec, params, x).output):.3g} from ONNX's defaults")


# ----------------------------------------------------------------------------- onnx.reference
def test_onnx_reference_ignores_clip_activations_and_input_forget(engine_or_skip):
    """Minimal reproduction (no upstream report found): an LSTM node with clip=0.5, input_forget=1 and the
    activations HardSigmoid, Relu, Relu evaluates exactly as the node without them; onnxruntime does not."""
    engine_or_skip("onnx-reference")
    from onnx.reference import ReferenceEvaluator

    spec = RNNSpec("lstm", 3, 4, clip=0.5, input_forget=True, activations=("HardSigmoid", "Relu", "Relu"))
    params = scaled(spec, weights=2.0)
    plain = RNNSpec("lstm", 3, 4)
    x = inputs(spec, scale=2.0).astype(np.float64)
    params64 = params.astype(np.float64)
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params64))
    y = ReferenceEvaluator(model).run(None, {"X": x})[0]  # the model's Y: (T, N, D·H)
    assert max_error(y, forward(spec, params64, x).output) > 1e-1
    np.testing.assert_allclose(y, forward(plain, on(params64, plain), x).output, rtol=0, atol=1e-14)


def test_onnx_reference_runs_an_rnn_s_affine_and_refuses_its_other_activations(engine_or_skip):
    """The evaluator's RNN knows Tanh and Affine (its alpha and beta honoured); Elu is refused by name."""
    adapter = engine_or_skip("onnx-reference")
    from onnx.reference import ReferenceEvaluator

    from rnn_ref.adapters.onnx.reference import NO_RNN_ACTIVATION

    spec = RNNSpec("rnn_tanh", 3, 4, bidirectional=True, activations=("Affine",), activation_alpha=(0.75,),
                   activation_beta=(0.25,))
    params = Params.random(spec, seed=1)
    x = inputs(spec).astype(np.float64)
    result = adapter.run(spec, adapter.build(spec, params), x)
    assert max_error(result.output, forward(spec, params, x).output) < 1e-13
    elu = RNNSpec("rnn_tanh", 3, 4, activations=("Elu",))
    assert adapter.unsupported_reason(elu, "float64", False) == NO_RNN_ACTIVATION
    model = build_model(elu, onnx_mapping("onnx", elu).to_native(Params.random(elu)))
    with pytest.raises(RuntimeError, match="Unknown activation function 'Elu'"):
        ReferenceEvaluator(model)
    assert "\"Unknown activation function 'Elu'.\"" in NO_RNN_ACTIVATION


def test_onnx_attributes_hold_activation_parameters_and_clip_in_float32(engine_or_skip):
    """An ONNX FLOAT attribute is float32: a float64 layer's Affine alpha 0.1 runs as float32(0.1) on the
    evaluator (1.5e-9 off, past the float64 tolerance); 0.125, exact in float32, runs exactly."""
    adapter = engine_or_skip("onnx-reference")
    x = inputs(RNNSpec("rnn_tanh", 3, 4)).astype(np.float64)
    errors = {}
    for alpha in (0.1, 0.125):
        spec = RNNSpec("rnn_tanh", 3, 4, activations=("Affine",), activation_alpha=(alpha,))
        params = Params.random(spec, seed=1)
        result = adapter.run(spec, adapter.build(spec, params), x)
        rounded = spec.replace(activation_alpha=(float(np.float32(alpha)),))
        errors[alpha] = (max_error(result.output, forward(spec, params, x).output),
                         max_error(result.output, forward(rounded, on(params, rounded), x).output))
    assert errors[0.1][0] > 1e-10 and errors[0.1][1] < 1e-14, errors
    assert errors[0.125][0] < 1e-14, errors


# ----------------------------------------------------------------------------- both, on random layers
OPTIONS_DRAWN = 40


def random_layer(rng: np.random.Generator, seed: int) -> RNNSpec:
    """A small layer over every option an ONNX node expresses: mode, depth, direction (bidirectional, reverse
    or forward), layout, bias, activations with parameters, clip, peepholes, coupled gates. Parameters and
    clips are multiples of 1/8 (exact in float32, as ONNX's attributes hold them). A draw whose reference
    output grows past 100 (unbounded activations in the gates: a Relu σ lets the state explode) is drawn
    again: such a layer tests float32 overflow, not the option."""
    while True:
        spec = drawn_layer(rng)
        x = inputs(spec, scale=1.5, steps=5).astype(np.float64)
        x = x if spec.layout == "TNC" else x.transpose(1, 0, 2)
        with np.errstate(over="ignore", invalid="ignore"):  # an exploding draw is what this loop rejects
            output = forward(spec, Params.random(spec, seed=seed), x).output
        if np.isfinite(output).all() and np.abs(output).max() < 100:
            return spec


def drawn_layer(rng: np.random.Generator) -> RNNSpec:
    mode = str(rng.choice(["lstm", "gru", "rnn_tanh", "rnn_relu"]))
    direction = str(rng.choice(["forward", "reverse", "bidirectional"]))
    fields: dict = dict(num_layers=int(rng.integers(1, 3)), bidirectional=direction == "bidirectional",
                        reverse=direction == "reverse", layout=str(rng.choice(["TNC", "NTC"])),
                        bias=bool(rng.random() < 0.8))
    if mode == "gru":
        fields["gru_variant"] = str(rng.choice(["reset_after", "reset_before"]))
    if rng.random() < 0.5:
        fields["clip"] = float(rng.integers(2, 12)) / 8
    if mode == "lstm":
        fields |= dict(peepholes=bool(rng.random() < 0.5), input_forget=bool(rng.random() < 0.3))
    if mode != "rnn_relu" and rng.random() < 0.7:
        names = tuple(str(n) for n in rng.choice(list(KINDS), size=len(MODE_ACTIVATIONS[mode])))
        fields |= dict(activations=names, activation_alpha=tuple(float(v) for v in rng.integers(1, 12, len(names)) / 8),
                       activation_beta=tuple(float(v) for v in rng.integers(-4, 8, len(names)) / 8))
    return RNNSpec(mode, 3, 4, **fields)


@pytest.mark.parametrize("engine", ["onnx", "onnx-reference"])
def test_random_layers_over_every_option_match_the_reference_or_the_declared_defect(engine_or_skip, engine):
    """40 seeded layers, each in float32 and float64 with or without initial states and lengths: where the
    engine runs the case, its output and final states match the reference (or, where a known defect is
    declared, the defect's signature); where it declares a limit, building the layer is refused."""
    adapter = engine_or_skip(engine)
    rng = np.random.default_rng(25)
    ran = {"run": 0, "defect": 0, "unsupported": 0}
    for draw in range(OPTIONS_DRAWN):
        spec = random_layer(rng, seed=draw)
        with_state, with_lengths = bool(rng.random() < 0.5), bool(rng.random() < 0.4)
        for dtype in ("float32", "float64"):
            expectation = adapter.expectation(spec, dtype, with_lengths)
            params = Params.random(spec, seed=draw, dtype=dtype)
            if not expectation.runs:
                with pytest.raises(UnsupportedCase):
                    adapter.run(spec, adapter.build(spec, params), inputs(spec).astype(dtype))
                ran["unsupported"] += 1
                continue
            x = inputs(spec, scale=1.5, steps=5, batch=3).astype(dtype)
            if spec.layout == "NTC":
                x = np.ascontiguousarray(x.transpose(1, 0, 2))
            units = spec.num_layers * spec.num_directions
            state = None
            if with_state:
                draw_state = np.random.default_rng(draw).standard_normal
                state = State(draw_state((units, 3, 4)).astype(dtype),
                              draw_state((units, 3, 4)).astype(dtype) if spec.has_cell_state else None)
            lengths = np.array([5, 2, 4]) if with_lengths else None
            result = adapter.run(spec, adapter.build(spec, params), x, state, lengths)
            if expectation.defect is not None:
                expected, _, tolerance_of = expectation.signature.expected(spec, params, x, state, lengths)
                ran["defect"] += 1
            else:
                expected, tolerance_of = forward(spec, params, x, state, lengths), dtype
                ran["run"] += 1
            for tensor in ("output", "h_n", "c_n"):
                if getattr(expected, tensor) is None:
                    continue
                # both runtimes write zeros at padded steps, as the reference does
                comparison = compare(tensor, getattr(result, tensor), getattr(expected, tensor),
                                     TOLERANCES[tolerance_of])
                assert comparison.passed, f"draw {draw} {spec} {dtype} state={with_state} lengths={with_lengths}: " \
                                          f"{comparison.describe()} ({expectation.defect or 'no defect declared'})"
    # onnx: float64 is a limit (no kernels), so are merge modes; onnx-reference: most draws use an option it ignores
    assert ran["run"] >= (20 if engine == "onnx" else 5) and ran["unsupported"] >= 1, ran
    assert engine == "onnx" or ran["defect"] >= 10, ran


def test_the_model_writes_the_options_as_the_node_s_attributes_and_input_p(engine_or_skip):
    """One LSTM node per layer with direction="reverse", the activations listed once per direction,
    alpha and beta only for those that take them, clip, input_forget=1, and P as input 7."""
    engine_or_skip("onnx")
    import onnx

    spec = RNNSpec("lstm", 3, 4, num_layers=2, reverse=True, peepholes=True, clip=0.75, input_forget=True,
                   activations=("HardSigmoid", "Tanh", "ScaledTanh"), activation_alpha=(0.25, 0.0, 1.5),
                   activation_beta=(0.5, 0.0, 0.75))
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(Params.random(spec, dtype=np.float32)))
    nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[1].attribute}
    assert attributes == {"hidden_size": 4, "direction": b"reverse", "clip": 0.75, "input_forget": 1,
                          "activations": [b"HardSigmoid", b"Tanh", b"ScaledTanh"],
                          "activation_alpha": [0.25, 1.5], "activation_beta": [0.5, 0.75]}
    assert list(nodes[1].input) == ["l0.output", "l1.W", "l1.R", "l1.B", "", "", "", "l1.P"]
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    assert shapes["l1.P"] == (1, 12) and shapes["l1.W"] == (1, 16, 4)  # the reverse layer's one direction
