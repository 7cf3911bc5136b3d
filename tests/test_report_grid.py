"""The scoreboard's aggregation (rnn_ref/report/grid.py): which case counts in which column, and each cell's colour.

A cell's status is its colour: every record passes -> pass; any run of any case fails -> fail;
a known defect -> defect; every record unsupported -> unsupported; passes beside unsupported
cases -> mixed; no record -> empty. A case on which two runs disagree counts as a conflict.
"""

from __future__ import annotations

import pytest
from report_results import RUN_B, record

from rnn_ref.judge.runner import DEFECT_GONE, FAIL, KNOWN_DEFECT, PASS, UNSUPPORTED
from rnn_ref.report.grid import FEATURES, build_grid, dtypes_of, engine_order, error_text
from rnn_ref.results import ResultsError, merged_records
from rnn_ref.results.records import GRADIENTS

LSTM = "lstm-L1-uni-TNC-f32"
LSTM_BI = "lstm-L2-bi-NTC-h0-len-f64"
GRU_BEFORE = "gru_reset_before-L1-uni-TNC-f32"
PROJ = "lstm_proj-L1-uni-TNC-f32"


def features_of(case_id: str, kind: str = "forward") -> set[str]:
    grid = build_grid(merged_records([record("torch", case_id, PASS, 1e-7, kind=kind)]))
    return {f.id for f in FEATURES if grid.cell("torch", f.id).entries}


def test_a_case_counts_in_every_column_whose_question_it_answers_yes():
    assert features_of(LSTM) == {"all", "lstm"}
    assert features_of(LSTM_BI) == {"all", "lstm", "stacked", "bidirectional", "ntc", "ragged", "initial-state",
                                    "float64"}
    assert features_of(GRU_BEFORE) == {"all", "gru", "reset_before"}
    assert features_of("gru-L1-uni-TNC-f32") == {"all", "gru", "reset_after"}
    assert features_of(PROJ) == {"all", "lstm", "projection"}
    assert features_of("rnn_relu-L1-uni-TNC-nobias-f32") == {"all", "rnn_relu", "no-bias"}
    assert features_of("rnn_tanh-L1-uni-TNC-h0-lenshort-f32") == {"all", "rnn_tanh", "short", "initial-state"}
    assert features_of("lstm-L1-uni-rev-hardsig3-TNC-f32") == {"all", "lstm", "options"}


def test_a_record_written_before_the_options_axis_counts_as_a_plain_case():
    old = record("torch", LSTM, PASS, 1e-7)
    del old["case"]["options"]
    grid = build_grid(merged_records([old]))
    assert grid.cell("torch", "all").entries and not grid.cell("torch", "options").entries


def test_a_gradient_verdict_counts_in_the_gradients_column_alone():
    assert features_of(LSTM_BI, kind=GRADIENTS) == {"gradients"}


@pytest.mark.parametrize("outcomes, status", [
    ([PASS, PASS], "pass"),
    ([PASS, FAIL], "fail"),
    ([PASS, DEFECT_GONE], "fail"),  # a stale known-defect declaration fails the run
    ([PASS, KNOWN_DEFECT, UNSUPPORTED], "defect"),
    ([UNSUPPORTED, UNSUPPORTED], "unsupported"),
    ([PASS, UNSUPPORTED], "mixed"),
    ([FAIL, KNOWN_DEFECT], "fail"),  # a failure is never hidden behind a defect's amber
], ids=lambda value: "-".join(value) if isinstance(value, list) else value)
def test_the_cells_status_is_its_colour(outcomes, status):
    cases = [LSTM, "lstm-L1-uni-TNC-f64", PROJ]
    records = [record("torch", case, outcome, None if outcome == UNSUPPORTED else 1e-7)
               for case, outcome in zip(cases[:len(outcomes)], outcomes, strict=True)]
    assert build_grid(merged_records(records)).cell("torch", "lstm").status == status


def test_a_cell_without_a_case_is_empty():
    grid = build_grid(merged_records([record("torch", LSTM, PASS, 1e-7)]))
    assert grid.cell("torch", "gru").status == "empty" and not grid.cell("torch", "gru").counts


def test_counts_and_the_largest_error_of_the_judged_cases():
    """A known defect's error is the defect's (what the engine computes instead), not the cell's accuracy."""
    grid = build_grid(merged_records([
        record("torch", LSTM, PASS, 2e-7), record("torch", "lstm-L1-uni-TNC-f64", KNOWN_DEFECT, 0.5),
        record("torch", PROJ, UNSUPPORTED, reason="no projection"), record("torch", LSTM_BI, FAIL, 3e-3)]))
    cell = grid.cell("torch", "lstm")
    assert cell.counts == {PASS: 1, KNOWN_DEFECT: 1, UNSUPPORTED: 1, FAIL: 1}
    assert cell.max_error == 3e-3 and error_text(cell.max_error) == "3.0e-03"
    assert grid.cell("torch", "projection").max_error is None


def test_runs_that_disagree_make_a_conflict_and_a_failing_run_colours_the_cell():
    merged = merged_records([record("torch", LSTM, PASS, 1e-7), record("torch", LSTM, FAIL, 0.2, run=RUN_B)])
    cell = build_grid(merged).cell("torch", "lstm")
    assert cell.conflicts == 1 and cell.counts == {"conflict": 1}
    assert cell.status == "fail"
    assert cell.max_error == 0.2  # every run's records count


def test_runs_that_agree_are_one_verdict():
    merged = merged_records([record("torch", LSTM, PASS, 1e-7), record("torch", LSTM, PASS, 1e-7, run=RUN_B)])
    cell = build_grid(merged).cell("torch", "lstm")
    assert cell.conflicts == 0 and cell.counts == {PASS: 1}


def test_a_dtype_grid_holds_that_dtypes_cases_alone():
    merged = merged_records([record("torch", LSTM, PASS, 1e-7), record("torch", "lstm-L1-uni-TNC-f64", FAIL, 1.0)])
    assert dtypes_of(merged) == ["float32", "float64"]
    assert build_grid(merged, "float32").cell("torch", "lstm").status == "pass"
    assert build_grid(merged, "float64").cell("torch", "lstm").status == "fail"
    assert build_grid(merged).cell("torch", "lstm").status == "fail"


def test_engines_come_in_registry_order_then_as_first_seen():
    merged = merged_records([record("keras", LSTM, PASS, 1e-7), record("torch", LSTM, PASS, 1e-7)])
    assert engine_order(merged) == ["torch", "keras"]
    unknown = record("torch", LSTM, PASS, 1e-7) | {"engine": "numpy-lstm", "family": "plug-in"}
    assert engine_order(merged_records([unknown, record("keras", LSTM, PASS, 1e-7)])) == ["keras", "numpy-lstm"]


def test_records_made_in_a_run_are_checked_as_a_files_are():
    with pytest.raises(ResultsError, match=r"record 2: outcome 'passed' is none of pass, fail"):
        merged_records([record("torch", LSTM, PASS, 1e-7), record("torch", PROJ, "passed", 1e-7)])
