"""Converted engines: composed from source × tool × runtime, their cache, and the README's table of them.

`python -m rnn_ref.cli.conversions` renders the table from run results and finds the converter
engines in the registry; the composition (rnn_ref/adapters/converted/base.py) is checked here
with NumPy alone, on a converted engine whose source is the reference behind the adapter
interface and whose "tool" and "runtime" are counted NumPy functions.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from reference_engine import ReferenceEngine

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters import ENGINES
from rnn_ref.adapters.adapter import GRADIENTS_NOT_IMPLEMENTED
from rnn_ref.adapters.converted.base import ArtifactCache, ConversionTool, ConvertedAdapter, ConvertedLayer, Runtime
from rnn_ref.cases.limits import FLOAT64, LENGTHS, Limit, modes
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.cli import conversions
from rnn_ref.cli.check import EngineReport
from rnn_ref.cli.conversions import END, START, converter_engines, render, update
from rnn_ref.core.compare import Comparison
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.judge.runner import FAIL, PASS, UNSUPPORTED, CaseResult


def result(case_id: str, status: str, error: float = 0.0, reason: str | None = None) -> CaseResult:
    comparisons = [Comparison("output", error, (0,), 0.0, 0.0, status == PASS)] if status != UNSUPPORTED else []
    return CaseResult("torch-onnx", case_by_id(case_id), case_id, status, comparisons, reason, rerun="pytest ...")


def test_the_table_counts_outcomes_per_variant_and_lists_every_reason():
    report = EngineReport("torch-onnx", "live, torch 2.13.0", [
        result("lstm-L1-uni-TNC-f32", PASS, 1.5e-7),
        result("lstm-L1-uni-TNC-f64", UNSUPPORTED, reason="no float64"),
        result("gru-L1-uni-TNC-f32", FAIL, 0.25),
    ])
    text = render([report], "python -m rnn_ref.cli.conversions", "the whole case matrix")
    assert "| lstm | 1 pass, 1 unsupported, max error 1.5e-07 / - |" in text
    assert "| gru | **1 fail**, max error 2.5e-01 / - |" in text  # a failure is never hidden
    assert "| rnn_tanh | - |" in text
    assert "- `torch-onnx`, 1 case(s) unsupported: no float64" in text
    assert "- `torch-onnx` **failed** gru-L1-uni-TNC-f32:" in text


def test_update_replaces_only_the_text_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n{START}\nold table\n{END}\nafter\n", encoding="utf-8")
    update(readme, "new table")
    assert readme.read_text(encoding="utf-8") == f"# title\n{START}\nnew table\n{END}\nafter\n"


def test_update_refuses_a_file_without_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no <!-- conversions:start -->"):
        update(readme, "table")
    assert readme.read_text(encoding="utf-8") == "# no markers\n"


# --------------------------------------------------------------------------- the registry
def test_the_converter_engines_are_the_rows_that_name_a_source_engine():
    assert converter_engines() == [name for name, row in ENGINES.items() if row.converts_from]
    assert converter_engines()  # the built-in converters are found
    for name in converter_engines():
        row = ENGINES[name]
        assert row.converts_from in ENGINES and not ENGINES[row.converts_from].converts_from
        module, _, class_name = row.adapter.partition(":")
        adapter_class = getattr(importlib.import_module(module), class_name)  # NumPy alone: frameworks are lazy
        assert issubclass(adapter_class, ConvertedAdapter)
        assert adapter_class().source.name == row.converts_from  # the row says what the adapter composes
        assert adapter_class.differentiable is False


def engine_names_in_literals(source: str) -> set[str]:
    """The engine names that stand as words in the string literals (docstrings too) of ``source``."""
    literals = [node.value for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return {name for name in ENGINES for text in literals
            if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text)}


def test_the_conversions_command_names_no_engine():
    """The command finds its engines in the registry: no engine name in any of its string literals."""
    source = Path(conversions.__file__).read_text(encoding="utf-8")
    assert engine_names_in_literals(source) == set()
    assert engine_names_in_literals(source + '\nCONVERTERS = ("torch-onnx", "onnx2torch")\n') == {
        "torch-onnx", "onnx2torch"}  # a planted one is found


# --------------------------------------------------------------------------- the composition, with NumPy alone
CONVERTED: list[tuple] = []  # (layer's spec, dtype, feeds' shapes) of every conversion the tool made
SPEC = RNNSpec("lstm", 3, 4, bidirectional=True)


def convert_to_params(layer: Params, conversion) -> Params:
    """A "tool": the artifact is the canonical params (a copy), recorded as converted."""
    CONVERTED.append((conversion.spec, conversion.dtype, tuple(feed.shape for feed in conversion.feeds)))
    return Params(layer.spec, {name: block.copy() for name, block in layer.items()})


def run_reference(params: Params, feeds) -> list:
    result = forward(params.spec, params, feeds[0], precision="input")
    return [result.output, result.h_n, result.c_n]


class ReferenceConverted(ConvertedAdapter):
    """The reference engine's params "converted" and run by the reference."""

    name = "reference-converted"
    source_adapter = ReferenceEngine
    tool = ConversionTool("copy", convert_to_params, lambda: "copy 1", fixed_shapes=True)
    runtime = Runtime("numpy", lambda params: params, run_reference, lambda: "numpy runtime")
    declared_limits = (Limit("no float64 LSTM without lengths", modes("lstm") & FLOAT64 & ~LENGTHS),
                       Limit("no lengths in float64 GRU", modes("gru") & FLOAT64 & LENGTHS))

    def feeds(self, spec, x, initial_state, lengths):
        return [x]

    def outputs(self, spec, values):
        return RNNOutput(*values)


@pytest.fixture()
def converted(monkeypatch):
    monkeypatch.setattr(ReferenceConverted, "artifacts", ArtifactCache(size=2))
    monkeypatch.setattr(ReferenceConverted, "sessions", ArtifactCache(size=2))
    CONVERTED.clear()
    return ReferenceConverted()


def test_a_converted_engine_delegates_rows_build_and_arrays_to_its_source(converted):
    params = Params.random(SPEC, seed=1, dtype=np.float32)
    mapping = converted.mapping(SPEC)
    assert mapping.engine == "reference-converted"  # the source's rows, under the engine's name
    assert mapping.rows == ReferenceEngine().mapping(SPEC).rows
    layer = converted.build(SPEC, params)
    assert isinstance(layer, ConvertedLayer) and layer.native is params
    assert converted.extract(SPEC, layer).equal(params)
    assert converted.version() == "reference 1, copy 1, numpy runtime"
    assert converted.padded_steps(SPEC) == ReferenceEngine().padded_steps(SPEC)


def test_capabilities_and_limits_are_declared(converted):
    assert converted.limits == ("no float64 LSTM without lengths", "no lengths in float64 GRU")
    assert converted.gradient_unsupported_reason(SPEC, "float32", False) == GRADIENTS_NOT_IMPLEMENTED
    assert converted.unsupported_reason(SPEC, "float64", False) == "no float64 LSTM without lengths"
    assert converted.unsupported_reason(SPEC, "float64", True) is None


def test_build_refuses_only_a_layer_no_interface_could_run(converted):
    """A float64 LSTM runs with lengths, so it builds; a float64 GRU runs without them, so it builds too;
    a limit that holds with and without lengths refuses the build with the reason of a run without."""
    converted.build(SPEC, Params.random(SPEC, dtype=np.float64))
    gru = RNNSpec("gru", 3, 4)
    converted.build(gru, Params.random(gru, dtype=np.float64))

    class Refusing(ReferenceConverted):
        name = "refusing"
        declared_limits = (Limit("no float64 at all", FLOAT64),)

    with pytest.raises(UnsupportedCase, match="refusing: no float64 at all"):
        Refusing().build(SPEC, Params.random(SPEC, dtype=np.float64))


def test_the_tool_runs_once_per_layer_configuration_and_the_cache_is_bounded(converted):
    params = Params.random(SPEC, seed=2, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    expected = forward(SPEC, params, x, precision="input")
    first = converted.run(SPEC, converted.build(SPEC, params), x)
    again = converted.run(SPEC, converted.build(SPEC, params), x.copy())
    assert len(CONVERTED) == 1  # the same layer, weights, interface and input shape: converted once
    for result in (first, again):
        np.testing.assert_array_equal(result.output, expected.output)
    converted.run(SPEC, converted.build(SPEC, params), x[:4])  # the tool traces at fixed shapes
    other = Params.random(SPEC, seed=3, dtype=np.float32)
    changed = converted.run(SPEC, converted.build(SPEC, other), x)  # other weights: converted afresh
    assert len(CONVERTED) == 3
    np.testing.assert_array_equal(changed.h_n, forward(SPEC, other, x, precision="input").h_n)  # never the cached session's answer
    converted.run(SPEC, converted.build(SPEC, params), x)  # evicted (two kept): converted again
    assert len(CONVERTED) == 4 and converted.artifacts.conversions == 4


def test_one_changed_weight_converts_afresh(converted):
    params = Params.random(SPEC, seed=4, dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((3, 1, 3)).astype(np.float32)
    converted.run(SPEC, converted.build(SPEC, params), x)
    blocks = {name: block.copy() for name, block in params.items()}
    name = next(iter(blocks))
    blocks[name].flat[0] = np.nextafter(blocks[name].flat[0], np.float32(np.inf))
    nudged = Params(SPEC, blocks)
    result = converted.run(SPEC, converted.build(SPEC, nudged), x)
    assert len(CONVERTED) == 2
    np.testing.assert_array_equal(result.output, forward(SPEC, nudged, x, precision="input").output)


def run_on(adapter, spec, params, x, state=None, lengths=None):
    return adapter.run(spec, adapter.build(spec, params), x, state, lengths)


@pytest.mark.parametrize("differs", ["mode", "layout", "state", "lengths", "dtype"])
def test_the_same_weights_in_another_configuration_convert_afresh(converted, monkeypatch, differs):
    """rnn_tanh and rnn_relu, TNC and NTC have the same weights: only the key's other parts keep
    their artifacts apart, so each one that differs must convert afresh and give its own answer."""
    monkeypatch.setattr(ReferenceConverted, "artifacts", ArtifactCache(size=8))
    monkeypatch.setattr(ReferenceConverted, "sessions", ArtifactCache(size=8))
    monkeypatch.setattr(ReferenceConverted, "declared_limits", ())
    tanh = RNNSpec("rnn_tanh", 3, 4)
    other = {"mode": RNNSpec("rnn_relu", 3, 4), "layout": RNNSpec("rnn_tanh", 3, 4, layout="NTC")}.get(differs, tanh)
    params = Params.random(tanh, seed=5, dtype=np.float32)
    x = np.random.default_rng(2).standard_normal((4, 2, 3)).astype(np.float32)
    run_on(converted, tanh, params, x)
    second_params = Params(other, {name: block.copy() for name, block in params.items()})
    second_x, state, lengths = x, None, None
    if differs == "state":
        state = State(np.full((1, 2, 4), 0.5, np.float32))
    if differs == "lengths":
        lengths = np.array([4, 2])
    if differs == "dtype":
        second_params, second_x = second_params.astype(np.float64), x.astype(np.float64)
    result = run_on(converted, other, second_params, second_x, state, lengths)
    assert len(CONVERTED) == 2, f"a {differs} that differs must not reuse the first artifact"
    if differs in ("mode", "layout", "dtype"):  # this toy runtime feeds x alone: state and lengths it ignores
        np.testing.assert_array_equal(result.output, forward(other, second_params, second_x, precision="input").output)


class OtherRuntime(ReferenceConverted):
    """The same source and tool as ReferenceConverted, run elsewhere: its session is its own kind of
    object, and its outputs are negated, to tell the two apart."""

    name = "reference-converted-elsewhere"
    runtime = Runtime("negating", lambda params: {"negating": params},
                      lambda session, feeds: [-v for v in run_reference(session["negating"], feeds)],
                      lambda: "negating runtime")


def test_two_runtimes_share_the_artifact_and_keep_their_own_sessions(converted, monkeypatch):
    monkeypatch.setattr(ReferenceConverted, "declared_limits", ())
    elsewhere = OtherRuntime()
    assert elsewhere.artifacts is converted.artifacts and elsewhere.sessions is converted.sessions
    params = Params.random(SPEC, seed=6, dtype=np.float32)
    x = np.random.default_rng(3).standard_normal((3, 2, 3)).astype(np.float32)
    here, there = run_on(converted, SPEC, params, x), run_on(elsewhere, SPEC, params, x)
    assert len(CONVERTED) == 1  # the tool ran once for both engines
    np.testing.assert_array_equal(there.output, -here.output)  # each runtime's own session answered
