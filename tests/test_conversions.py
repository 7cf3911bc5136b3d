"""`python -m rnn_ref.cli.conversions`: the README's table of converter outcomes, from run results."""

from __future__ import annotations

import pytest

from rnn_ref.cases.matrix import case_by_id
from rnn_ref.cli.check import EngineReport
from rnn_ref.cli.conversions import END, START, render, update
from rnn_ref.core.compare import Comparison
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
