"""The boundary between the judge and an engine (design section 2f, trust).

An engine is code the judge does not control. What it is handed is its own: it can neither
change the arrays the reference reads afterwards nor the weights it was built from. A call
that does not return is bounded in time and fails its case, and an engine that hung is never
called again. A result the judge cannot read fails its case with the reason. Every fake
engine below is the NumPy reference behind the adapter interface with one thing wrong.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import reference_engine

import rnn_ref.cli.check
from rnn_ref.adapters import ENGINES, EngineInfo, adapter_object
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.cli import main
from rnn_ref.cli.check import guarded, live, passed, render
from rnn_ref.core.deadline import DeadlineExceeded
from rnn_ref.judge.runner import (
    FAIL,
    PASS,
    EngineNotCalled,
    EngineResultError,
    gradient_rerun_command,
    rerun_command,
    run_case,
    run_gradient_case,
)
from rnn_ref.judge.selftest import passed as selftest_passed
from rnn_ref.judge.selftest import render as selftest_render
from rnn_ref.judge.selftest import selftest_engine

ROOT = Path(__file__).resolve().parent.parent
CASE = case_by_id("lstm-L2-bi-NTC-h0-len-f64")
FEW = [CASE, case_by_id("gru-L1-uni-TNC-f32")]


class Correct(reference_engine.DifferentiatingReferenceEngine):
    """A correct engine, forward and gradients: the reference in the input's dtype."""

    name = "fake"


# --------------------------------------------------------------------------- what an engine is handed
class ZeroesItsInput(Correct):
    """Ignores its input: writes zeros over the x it is given, then runs on them."""

    name = "zeroes-input"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        x[...] = 0
        return super().run(spec, layer, x, initial_state, lengths)

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        x[...] = 0
        return super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)


class ZeroesItsInitialState(Correct):
    name = "zeroes-state"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        if initial_state is not None:
            initial_state.h[...] = 0
        return super().run(spec, layer, x, initial_state, lengths)


class RunsEveryStep(Correct):
    """Overwrites the lengths it is given with the full length: the padded steps are run."""

    name = "full-lengths"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        if lengths is not None:
            lengths[...] = x.shape[1 if spec.layout == "NTC" else 0]
        return super().run(spec, layer, x, initial_state, lengths)


class ZeroesTheWeightsItIsGiven(Correct):
    name = "zeroes-weights"

    def build(self, spec, params):
        for key in params:
            params[key][...] = 0
        return super().build(spec, params)


class ZeroesItsCotangents(Correct):
    name = "zeroes-cotangents"

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        for given in (cotangents.output, cotangents.h_n, cotangents.c_n):
            if given is not None:
                given[...] = 0
        return super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)


@pytest.mark.parametrize("engine", [ZeroesItsInput(), ZeroesItsInitialState(), RunsEveryStep()],
                         ids=lambda engine: engine.name)
def test_an_engine_that_writes_over_its_inputs_is_judged_on_what_it_computed_from_them(engine):
    """Before: the reference read the very arrays the engine had zeroed, and the case passed."""
    result = run_case(engine, CASE)
    assert result.status == FAIL, result.report()
    assert {"output", "h_n"} & {c.tensor for c in result.failures()}


def test_an_engine_that_writes_over_the_weights_it_is_given_fails_loudly():
    """The weights are read-only: the write raises where it happens, and ``check`` fails the case."""
    with pytest.raises(ValueError, match="read-only"):
        run_case(ZeroesTheWeightsItIsGiven(), CASE)
    result = guarded(run_case, ZeroesTheWeightsItIsGiven(), CASE, rerun_command)
    assert result.status == FAIL and "read-only" in result.report()


class TurnsTheFlagOffAndZeroesTheWeights(Correct):
    """Makes the read-only blocks writable (an array that owns its memory may), then zeroes them."""

    name = "zeroes-weights-past-the-flag"

    def build(self, spec, params):
        for key in params:
            params[key].setflags(write=True)
            params[key][...] = 0
        return super().build(spec, params)


def test_an_engine_that_writes_into_its_weights_past_the_read_only_flag_is_judged_on_zeros():
    """The probe's `mutp2` plug-in: the flag stops accidents, not code; the engine's copy does the rest.
    Before: `check` passed it 835/835, the reference reading the zeroed weights too."""
    data = CASE.data()
    before = {key: block.copy() for key, block in data.params.items()}
    result = run_case(TurnsTheFlagOffAndZeroesTheWeights(), CASE)
    assert result.status == FAIL and {"output", "h_n"} & {c.tensor for c in result.failures()}
    assert all(np.array_equal(block, before[key]) for key, block in CASE.data().params.items())


@pytest.mark.parametrize("engine", [ZeroesItsInput(), ZeroesItsCotangents()], ids=lambda engine: engine.name)
def test_a_gradient_run_that_writes_over_its_inputs_or_cotangents_fails(engine):
    """Before: zeroed cotangents gave the reference zero gradients too, and the case passed."""
    result = run_gradient_case(engine, CASE)
    assert result.status == FAIL, result.report()


def test_check_fails_both_mutating_engines_on_every_case_they_run(monkeypatch):
    """The research's two plug-ins (bad-inputs.md, finding 2): ``check`` passed them 835/835."""
    monkeypatch.setattr(rnn_ref.cli.check, "load_adapter", lambda name: {e.name: e for e in ENGINES_UNDER_TEST}[name])
    monkeypatch.setattr(rnn_ref.cli.check, "all_cases", lambda: FEW)
    reports = [live(engine.name, None) for engine in ENGINES_UNDER_TEST]
    for report in reports:
        assert [r.status for r in report.results] == [FAIL, FAIL], render([report])
    assert not passed(reports)


ENGINES_UNDER_TEST = (ZeroesItsInput(), ZeroesTheWeightsItIsGiven())


def test_the_selftest_judges_an_engine_that_writes_over_its_input_against_the_untouched_input():
    report = selftest_engine(ZeroesItsInput())
    assert report.baseline_failures and not selftest_passed([report])
    assert "output" in report.baseline_failures[0]


# --------------------------------------------------------------------------- an engine that never returns
class Hangs(Correct):
    """``where`` ("build", "run" or "run_gradients") never returns (until the test lets it go)."""

    def __init__(self, where: str = "run") -> None:
        self.name = f"hangs-in-{where}"
        self.where = where
        self.calls = 0
        self.release = threading.Event()

    def hang_if(self, where: str) -> None:
        self.calls += 1
        if where == self.where:
            self.release.wait(60)

    def build(self, spec, params):
        self.hang_if("build")
        return super().build(spec, params)

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        self.hang_if("run")
        return super().run(spec, layer, x, initial_state, lengths)

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        self.hang_if("run_gradients")
        return super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)


@pytest.fixture
def hangs():
    """``hangs(where)``: a fresh hanging engine; every one is let go at the end of the test."""
    made: list[Hangs] = []

    def make(where: str = "run") -> Hangs:
        made.append(Hangs(where))
        return made[-1]

    yield make
    for engine in made:
        engine.release.set()


@pytest.mark.parametrize(("where", "run"), [("run", run_case), ("build", run_case),
                                            ("run_gradients", run_gradient_case)])
def test_a_case_whose_engine_does_not_return_fails_in_its_time_naming_the_case(hangs, where, run):
    engine = hangs(where)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match=rf"{engine.name} on case {CASE.id}\S* did not finish within 0\.2 s"):
        run(engine, CASE, seconds=0.2)
    assert time.perf_counter() - started < 5


def test_an_engine_that_did_not_return_is_never_called_again(hangs):
    engine = hangs()
    with pytest.raises(DeadlineExceeded):
        run_case(engine, CASE, seconds=0.2)
    calls = engine.calls
    for run in (run_case, run_gradient_case):
        with pytest.raises(EngineNotCalled, match=rf"hangs-in-run is not called again: .*{CASE.id}"):
            run(engine, FEW[1], seconds=0.2)
    assert engine.calls == calls


def test_the_bound_comes_from_the_environment_by_default(hangs, monkeypatch):
    """The pytest suite calls the runner without a bound of its own: RNN_REF_CASE_TIMEOUT sets it."""
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0.2")
    with pytest.raises(DeadlineExceeded, match=r"within 0\.2 s"):
        run_case(hangs(), CASE)


def test_check_fails_the_case_that_hung_and_runs_none_of_the_engines_other_cases(hangs, monkeypatch):
    engine = hangs()
    monkeypatch.setattr(rnn_ref.cli.check, "load_adapter", lambda name: engine)
    monkeypatch.setattr(rnn_ref.cli.check, "all_cases", lambda: FEW)
    report = live(engine.name, None, seconds=0.2)
    assert [(r.case.id, r.status) for r in report.results] == [(CASE.id, FAIL)]
    assert report.gradient_results == []
    assert engine.calls == 2  # build and run of the first case, nothing after
    table = render([report])
    assert f"on case {CASE.id} did not finish within 0.2 s" in table
    assert "1 forward and 2 gradient case(s) not run" in table
    assert not passed([report])


def test_the_selftest_reports_an_engine_that_hung_and_calls_it_no_more(hangs):
    engine = hangs()
    report = selftest_engine(engine, seconds=0.2)
    assert engine.calls == 2 and not selftest_passed([report])
    assert f"{engine.name}  could not be self-tested: {engine.name} on case " in selftest_render([report])


class HangsInRun(Hangs):
    """What the CLI loads by name (``hangs_by_name``): every instance waits on the test's one event."""

    everyone = threading.Event()

    def __init__(self) -> None:
        super().__init__("run")
        self.release = self.everyone


@pytest.fixture
def hangs_by_name(monkeypatch):
    """``HangsInRun`` registered as the engine ``hangs-in-run``, let go at the end of the test."""
    monkeypatch.setitem(ENGINES, "hangs-in-run", EngineInfo("hangs-in-run", f"{__name__}:HangsInRun", "numpy",
                                                            "a test engine whose run does not return"))
    monkeypatch.setattr(HangsInRun, "everyone", threading.Event())
    adapter_object.cache_clear()
    yield "hangs-in-run"
    HangsInRun.everyone.set()
    adapter_object.cache_clear()


def test_check_and_selftest_take_the_bound_as_case_timeout(hangs_by_name, monkeypatch, capsys):
    monkeypatch.setattr(rnn_ref.cli.check, "all_cases", lambda: FEW)
    assert main(["check", "--engines", hangs_by_name, "--case-timeout", "0.2"]) == 1
    out = capsys.readouterr().out
    assert "did not finish within 0.2 s" in out and "not run" in out
    adapter_object.cache_clear()  # a fresh engine for the selftest
    assert main(["selftest", "--engines", hangs_by_name, "--case-timeout", "0.2"]) == 1
    assert "hangs-in-run  could not be self-tested: hangs-in-run on case" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["check", "selftest"])
@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_case_timeout_is_a_usage_error(command, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--engines", "torch", "--case-timeout", value])
    assert exited.value.code == 2
    assert f"rnn-ref {command}: error: argument --case-timeout: " in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "selftest"])
def test_a_bad_bound_in_the_environment_is_a_usage_error(command, monkeypatch, capsys):
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "-2")
    assert main([command, "--engines", "torch"]) == 2
    assert capsys.readouterr().err == (f"rnn-ref {command}: error: RNN_REF_CASE_TIMEOUT must be a number of "
                                       "seconds from 0 (no bound) to 604800, got '-2'\n")


def test_the_shipped_suite_fails_a_case_that_hangs_instead_of_hanging(tmp_path):
    """``pytest --pyargs rnn_ref.suite`` with RNN_REF_CASE_TIMEOUT: the hung case fails in its time,
    the engine's other cases fail at once without calling it (bad-inputs.md, finding 5)."""
    package = tmp_path / "site"
    (package / "sleepy_rnn-0.dist-info").mkdir(parents=True)
    (package / "sleepy_rnn-0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: sleepy-rnn\nVersion: 0\n")
    (package / "sleepy_rnn-0.dist-info" / "entry_points.txt").write_text(
        "[rnn_ref.engines]\nsleepy = sleepy_rnn:Sleepy\n")
    (package / "sleepy_rnn.py").write_text(
        "import time\nfrom numpy_lstm_adapter.adapter import NumpyLSTMAdapter\n\n"
        "class Sleepy(NumpyLSTMAdapter):\n    name = 'sleepy'\n\n"
        "    def run(self, spec, layer, x, initial_state=None, lengths=None):\n        time.sleep(60)\n")
    path = os.pathsep.join([str(package), str(ROOT / "examples" / "numpy_lstm_adapter"), str(ROOT),
                            os.environ.get("PYTHONPATH", "")])
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--tb=line", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--pyargs", "rnn_ref.suite", "--engines", "sleepy",
         "-k", "test_engine_matches_reference and lstm-L1-uni-NTC-h0-len-"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": path, "RNN_REF_CASE_TIMEOUT": "1"})
    assert time.perf_counter() - started < 60
    assert done.returncode == 1, done.stdout + done.stderr
    assert "did not finish within 1 s" in done.stdout and "is not called again" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1].startswith("4 failed"), done.stdout


# --------------------------------------------------------------------------- a result the judge cannot read
class ReturnsNone(Correct):
    name = "returns-none"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return None


class ForgetsTheCellState(Correct):
    name = "no-cell-state"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return dataclasses.replace(super().run(spec, layer, x, initial_state, lengths), c_n=None)


class ReturnsATuple(Correct):
    name = "returns-tuple"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        result = super().run(spec, layer, x, initial_state, lengths)
        return result.output, result.h_n, result.c_n


class ReturnsText(Correct):
    name = "returns-text"

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return dataclasses.replace(super().run(spec, layer, x, initial_state, lengths), h_n="h_n")


class GradientsNone(Correct):
    name = "gradients-none"

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        return None


class GradientsWithoutX(Correct):
    name = "gradients-without-x"

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        return dataclasses.replace(super().run_gradients(spec, layer, x, initial_state, lengths, cotangents), x=None)


@pytest.mark.parametrize(("engine", "message"), [
    (ReturnsNone(), "returns-none's run returned None, not an RNNOutput (output, h_n, c_n)"),
    (ReturnsATuple(), "returns-tuple's run returned a tuple, not an RNNOutput (output, h_n, c_n)"),
    (ForgetsTheCellState(), "no-cell-state's run returned no c_n (None) for an LSTM"),
    (ReturnsText(), "returns-text's run returned h_n as a str, not a numeric array"),
], ids=lambda value: getattr(value, "name", ""))
def test_a_result_the_judge_cannot_read_fails_its_case_with_the_reason(engine, message):
    """Before: ``AttributeError: 'NoneType' object has no attribute 'output'`` from inside the judge."""
    with pytest.raises(EngineResultError) as raised:
        run_case(engine, CASE)
    assert str(raised.value) == message
    assert message in guarded(run_case, engine, CASE, rerun_command).report()
    report = selftest_engine(engine)
    assert not selftest_passed([report]) and message in selftest_render([report])


class GradientsWithoutH0(Correct):
    """Gives no initial-state gradient though the case had an initial state (the judge skipped it)."""

    name = "gradients-without-h0"

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        return dataclasses.replace(super().run_gradients(spec, layer, x, initial_state, lengths, cotangents), h0=None)


@pytest.mark.parametrize(("engine", "message"), [
    (GradientsNone(), "gradients-none's run_gradients returned None, not an EngineGradients (x, h0, c0, native)"),
    (GradientsWithoutH0(), "gradients-without-h0's run_gradients returned no h0 gradient (None) for a case with an "
                           "initial state"),
    (GradientsWithoutX(), "gradients-without-x's run_gradients returned x as a NoneType, not a numeric array"),
], ids=lambda value: getattr(value, "name", ""))
def test_gradients_the_judge_cannot_read_fail_their_case_with_the_reason(engine, message):
    with pytest.raises(EngineResultError) as raised:
        run_gradient_case(engine, CASE)
    assert str(raised.value) == message


class MappingExplodes(Correct):
    name = "mapping-explodes"

    def mapping(self, spec):
        raise RuntimeError("mapping exploded")


class ReasonExplodes(Correct):
    name = "reason-explodes"

    def unsupported_reason(self, spec, dtype, with_lengths):
        raise TypeError("reason exploded")


@pytest.mark.parametrize(("engine", "message"), [(MappingExplodes(), "RuntimeError: mapping exploded"),
                                                 (ReasonExplodes(), "TypeError: reason exploded")],
                         ids=lambda value: getattr(value, "name", ""))
def test_the_selftest_reports_a_plugin_method_that_raises_as_that_engines_failure(engine, message):
    """Before: the exception ended ``rnn-ref selftest`` with a traceback (bad-inputs.md, PL4, PL16)."""
    report = selftest_engine(engine)
    assert not selftest_passed([report])
    assert message in selftest_render([report])


# --------------------------------------------------------------------------- the rerun command
LABEL = "x]' ; touch $TMPDIR/PWNED ; echo '["  # bad-inputs.md, finding 15


@pytest.mark.parametrize(("command", "expected"), [
    (rerun_command, ["pytest", "--pyargs", "rnn_ref.suite", "--engines", "fake", "-k",
                     f"test_engine_matches_reference[fake-{LABEL}]"]),
    (gradient_rerun_command, ["pytest", f"tests/test_gradient_equivalence.py::test_engine_gradients_match_reference"
                                        f"[fake-{LABEL}-grad]", "--engines", "fake"]),
])
def test_a_case_label_reaches_the_rerun_command_as_one_quoted_word(command, expected):
    assert shlex.split(command("fake", LABEL)) == expected


def test_a_plain_rerun_command_reads_as_before():
    assert rerun_command("torch", "lstm-L1-uni-TNC-f32") == (
        "pytest --pyargs rnn_ref.suite --engines torch -k 'test_engine_matches_reference[torch-lstm-L1-uni-TNC-f32]'")


def test_a_correct_engine_still_passes_forward_and_gradients_through_the_boundary():
    assert run_case(Correct(), CASE).status == PASS
    assert run_gradient_case(Correct(), CASE).status == PASS
    assert np.isfinite(CASE.data().x).all()


def test_record_refuses_an_engine_that_does_not_return_and_writes_nothing(hangs_by_name, monkeypatch, tmp_path):
    """Before the bound ``record`` waited for ever; a DeadlineExceeded is an OSError, which the CLI
    would have reported as a failed write. It is a refusal to record, naming the case."""
    import rnn_ref.golden.recording

    monkeypatch.setattr(rnn_ref.golden.recording, "representative_cases", lambda: FEW)
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0.2")
    with pytest.raises(rnn_ref.golden.recording.FixtureError,
                       match=rf"refusing to record: hangs-in-run on case {CASE.id}: DeadlineExceeded: "):
        rnn_ref.golden.recording.record(hangs_by_name, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- an engine that exits
class ExitsInRun(Correct):
    """Ends the process from its run: ``sys.exit(0)`` (or raises KeyboardInterrupt itself)."""

    def __init__(self, error: BaseException) -> None:
        self.name = f"raises-{type(error).__name__}"
        self.error = error

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        raise self.error


@pytest.mark.parametrize(("error", "said"), [(SystemExit(0), "called sys.exit(0)"),
                                             (KeyboardInterrupt(), "raised KeyboardInterrupt")],
                         ids=["sys.exit(0)", "KeyboardInterrupt"])
def test_an_engine_that_exits_in_run_fails_its_case_instead_of_ending_the_command(error, said):
    """The probe's `runexit0` plug-in: `check` and `selftest` printed nothing and exited 0."""
    engine = ExitsInRun(error)
    result = guarded(run_case, engine, CASE, rerun_command)
    assert result.status == FAIL and f"{engine.name} on case" in result.report() and said in result.report()
    report = selftest_engine(engine)
    assert not selftest_passed([report]) and said in selftest_render([report])


def test_a_bad_bound_in_the_environment_stops_the_shipped_suite_with_one_usage_error(tmp_path):
    """Before: every case of the matrix failed on the same ValueError, each with its traceback."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--pyargs", "rnn_ref.suite", "--engines", "none"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": path, "RNN_REF_CASE_TIMEOUT": "soon"})
    assert done.returncode == 4, done.stdout + done.stderr
    assert "ERROR: RNN_REF_CASE_TIMEOUT must be a number of seconds (0: no bound), got 'soon'" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
