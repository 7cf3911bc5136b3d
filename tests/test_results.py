"""Verdicts as data (docs/results-schema.md): what a record holds, and what the reader refuses or flags.

A record is one verdict of one engine on one case, forward or gradients, with the case's axes,
the errors per tensor (JSON has no inf: an error that is not a number is null, and ``problems``
says why), the upstream reports its reason names, and the run that made it. The reader refuses
a file it cannot trust — cut short, another format, a newer schema version, a record missing a
field — naming the file and line, and merges several files, keeping every run's record where
runs disagree (a conflict), never one of them silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnn_ref import RNNSpec
from rnn_ref.cases.matrix import Case
from rnn_ref.cli import main
from rnn_ref.core.compare import Comparison
from rnn_ref.judge.runner import FAIL, KNOWN_DEFECT, PASS, UNSUPPORTED, CaseResult
from rnn_ref.results import SCHEMA, VERSION, ResultsError, ResultsWriter, RunInfo, read_results, record_of
from rnn_ref.results.records import FORWARD, GRADIENTS

CASE = Case("lstm", RNNSpec("lstm", 3, 5, num_layers=2, bidirectional=True, layout="NTC"), 6, 4,
            with_state=True, with_lengths=True, dtype="float32", short_lengths=True)


def comparison(tensor: str, error: float, problem: str | None = None) -> Comparison:
    return Comparison(tensor, error, (0,), 0.0, 0.0, error < 1e-5 and problem is None, problem)


def written(tmp_path: Path, records: list[dict], name: str = "r.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def a_record(outcome: str = PASS, run: RunInfo | None = None, engine: str = "torch") -> dict:
    result = CaseResult(engine, CASE, CASE.id, outcome, [comparison("output", 3e-7)])
    return record_of(result, FORWARD, "2.13.0+cpu", "live", run or RunInfo("check"))


# ----------------------------------------------------------------------------- what a record holds
def test_a_record_holds_the_case_axes_the_outcome_and_the_error_of_each_tensor():
    result = CaseResult("torch", CASE, CASE.id, PASS, [comparison("output", 3e-7), comparison("h_n", 1e-7)])
    record = record_of(result, FORWARD, "2.13.0+cpu", "live", RunInfo("check"))
    assert (record["schema"], record["version"], record["engine"], record["family"]) == (SCHEMA, VERSION, "torch",
                                                                                        "torch")
    assert record["case"] == {"id": "lstm-L2-bi-NTC-h0-lenshort-f32", "variant": "lstm", "mode": "lstm",
                              "gru_variant": None, "layers": 2, "bidirectional": True, "layout": "NTC", "bias": True,
                              "proj_size": 0, "input_size": 3, "hidden_size": 5, "steps": 6, "batch": 4,
                              "initial_state": True, "lengths": "short", "dtype": "float32", "slow": False,
                              "options": []}
    assert record["errors"] == {"output": 3e-7, "h_n": 1e-7} and record["max_error"] == 3e-7
    assert record["tolerance"] == {"atol": 2e-6, "rtol": 2e-6}
    assert set(record["run"]) == {"id", "source", "started", "rnn_ref", "machine"}
    assert set(record["run"]["machine"]) == {"cpu", "cores", "os", "python"}
    json.dumps(record, allow_nan=False)  # plain JSON


def test_an_option_cases_record_names_its_options():
    from rnn_ref.cases.matrix import case_by_id

    case = case_by_id("lstm-L1-uni-rev-hardsig3-TNC-f32")
    record = record_of(CaseResult("onnx", case, case.id, PASS, [comparison("output", 1e-7)]), FORWARD, "1.32",
                       "live", RunInfo("check"))
    assert record["case"]["options"] == ["rev", "hardsig3"]


def test_an_error_that_is_not_a_number_is_null_and_the_problem_is_kept():
    result = CaseResult("keras", CASE, CASE.id, FAIL, [comparison("c_n", float("inf"), "missing: the engine gave none")])
    record = record_of(result, GRADIENTS, "3.15", "fixtures", RunInfo("check"))
    assert record["errors"] == {"c_n": None} and record["max_error"] is None
    assert record["problems"] == ["c_n: missing: the engine gave none"] and record["family"] == "keras"
    json.dumps(record, allow_nan=False)


def test_the_upstream_reports_a_reason_names_are_listed():
    reason = ("Keras 3.15 rounds float64 to float32: keras-team/keras#23704; see also "
              "https://github.com/pytorch/pytorch/issues/1 and no report elsewhere")
    record = record_of(CaseResult("keras-jax", CASE, CASE.id, KNOWN_DEFECT, reason=reason), FORWARD, "3.15",
                       "live", RunInfo("pytest"))
    assert record["upstream"] == ["keras-team/keras#23704", "https://github.com/pytorch/pytorch/issues/1"]
    unsupported = record_of(CaseResult("torch", CASE, CASE.id, UNSUPPORTED, reason="torch has no reset_before"),
                            FORWARD, "2.13", "live", RunInfo("pytest"))
    assert unsupported["upstream"] == [] and unsupported["max_error"] is None


def test_a_writer_writes_nothing_until_the_run_ends_and_then_the_whole_file(tmp_path):
    writer = ResultsWriter(tmp_path / "out" / "r.jsonl", "check")
    writer.add(CaseResult("torch", CASE, CASE.id, PASS, [comparison("output", 1e-7)]), FORWARD, "2.13", "live")
    assert not (tmp_path / "out" / "r.jsonl").exists()
    writer.write()
    (record,) = [json.loads(line) for line in (tmp_path / "out" / "r.jsonl").read_text().splitlines()]
    assert record["run"]["id"] == writer.run.id and record["run"]["source"] == "check"


# ----------------------------------------------------------------------------- what the reader refuses
@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(version=VERSION + 1), rf"written under results schema version {VERSION + 1}, newer than this rnn_ref reads "
                                              rf"\(up to {VERSION}\): upgrade rnn_ref"),
    (lambda r: r.update(version="1"), r"schema version '1' is not a positive integer"),
    (lambda r: r.update(schema="something-else"), r"not an rnn-ref results record"),
    (lambda r: r.pop("engine"), r"the record has no engine"),
    (lambda r: r.update(outcome="green"), r"outcome 'green' is none of pass, fail"),
    (lambda r: r.update(kind="backward"), r"kind 'backward' is neither forward nor gradients"),
], ids=["newer-version", "version-not-an-int", "another-format", "no-engine", "unknown-outcome", "unknown-kind"])
def test_a_record_the_reader_cannot_trust_is_refused_with_its_line(tmp_path, change, message):
    bad = a_record()
    change(bad)
    path = written(tmp_path, [a_record(), bad])
    with pytest.raises(ResultsError, match=rf"r\.jsonl:2: {message}"):
        read_results([path])


def test_a_file_cut_short_is_refused_as_truncated(tmp_path):
    path = written(tmp_path, [a_record()])
    path.write_text(path.read_text() + json.dumps(a_record())[:80], encoding="utf-8")
    with pytest.raises(ResultsError, match=r"r\.jsonl:2: the file is truncated \(its last line is cut short\)"):
        read_results([path])
    path.write_text("{not json}\n" + json.dumps(a_record()) + "\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"r\.jsonl:1: not a JSON record"):
        read_results([path])


def test_an_empty_or_missing_file_is_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"empty\.jsonl: holds no results records"):
        read_results([tmp_path / "empty.jsonl"])
    with pytest.raises(ResultsError, match=r"missing\.jsonl: cannot be read as a results file"):
        read_results([tmp_path / "missing.jsonl"])


# ----------------------------------------------------------------------------- merging runs
def test_runs_that_agree_merge_into_one_verdict_and_runs_that_disagree_are_both_kept_and_flagged(tmp_path):
    first, second = RunInfo("check"), RunInfo("pytest")
    other = CaseResult("gluon", CASE, CASE.id, PASS, [comparison("output", 1e-7)])
    files = [written(tmp_path, [a_record(PASS, first), record_of(other, FORWARD, "1.9.1", "live", first)], "a.jsonl"),
             written(tmp_path, [a_record(FAIL, second), record_of(other, FORWARD, "1.9.1", "live", second)],
                     "b.jsonl")]
    merged = read_results(files)
    torch_key, gluon_key = ("torch", FORWARD, CASE.id), ("gluon", FORWARD, CASE.id)
    assert merged.verdicts() == {torch_key: "conflict", gluon_key: PASS}
    assert list(merged.conflicts) == [torch_key]
    assert [r["outcome"] for r in merged.conflicts[torch_key]] == [PASS, FAIL]
    assert [r["run"]["source"] for r in merged.conflicts[torch_key]] == ["check", "pytest"]
    assert merged.engines() == ["torch", "gluon"] and [r["source"] for r in merged.runs()] == ["check", "pytest"]
    again = read_results([files[0], files[0]])  # the same run read twice is one verdict, not a conflict
    assert again.verdicts() == {torch_key: PASS, gluon_key: PASS}


# ----------------------------------------------------------------------------- rnn-ref check --results
def test_check_writes_every_verdict_of_every_engine_it_replays(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    code = main(["check", "--replay-only", "--engines", "torch,keras,gluon", "--results", str(path)])
    assert code == 0
    assert "result(s) to" in capsys.readouterr().err
    merged = read_results([path])
    assert merged.engines() == ["torch", "keras", "gluon"]
    outcomes = {r["outcome"] for found in merged.records.values() for r in found}
    assert {PASS, UNSUPPORTED} <= outcomes and not merged.conflicts
    assert {r["origin"] for found in merged.records.values() for r in found} == {"fixtures"}
    kinds = {key[1] for key in merged.records}
    assert kinds == {FORWARD, GRADIENTS}


def test_check_refuses_a_results_path_that_is_a_folder(tmp_path, capsys):
    assert main(["check", "--replay-only", "--engines", "torch", "--results", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"rnn-ref check: error: --results {tmp_path}: is a directory; "
                                               "give the file to write")
