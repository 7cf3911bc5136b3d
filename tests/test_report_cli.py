"""``rnn-ref report``: what it writes (a self-contained page, Markdown, an SVG) and what it refuses.

Bad input is one line ``rnn-ref report: error: ...`` and exit 2, never a traceback; runs that
disagree are written, flagged, named on stderr, and exit 0.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_results import RUN_B, record, replayed_records, write

from rnn_ref.cli import main
from rnn_ref.judge.runner import FAIL, PASS
from rnn_ref.report.grid import FEATURES, build_grid
from rnn_ref.results import merged_records

SVG = "{http://www.w3.org/2000/svg}"
SCOREBOARD_SVG = Path(__file__).resolve().parent.parent / "docs" / "scoreboard.svg"
CASE = "lstm-L1-uni-TNC-f32"


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return write(tmp_path / "r.jsonl", replayed_records())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv: str) -> str:
    """The one error line of a refused command (exit 2)."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-ref report: error: "), err
    return lines[0].removeprefix("rnn-ref report: error: ")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_it_writes_the_page_the_markdown_and_the_image(results, tmp_path, capsys):
    page, text, image = tmp_path / "out" / "index.html", tmp_path / "s.md", tmp_path / "s.svg"
    code, out, err = run(capsys, "report", str(results), "--html", str(page), "--markdown", str(text),
                         "--svg", str(image))
    assert code == 0 and err == ""
    assert out.splitlines() == [f"wrote {page}", f"wrote {text}", f"wrote {image}"]
    assert "## Which conversions are correct" in text.read_text(encoding="utf-8")
    engines = build_grid(merged_records(replayed_records())).engines
    cells = ElementTree.parse(image).getroot().iter(f"{SVG}g")
    assert len([g for g in cells if g.get("class") == "cell"]) == len(engines) * len(FEATURES)
    html = page.read_text(encoding="utf-8")
    for engine in engines:
        assert f'<tr class="engine-row" id="row-{engine}" data-engine="{engine}"' in html


def test_the_page_is_self_contained(results, tmp_path, capsys):
    """Inline CSS and JS: no script, stylesheet, image or frame from anywhere (it works from file://)."""
    page = tmp_path / "index.html"
    assert run(capsys, "report", str(results), "--html", str(page))[0] == 0
    parser = Tags()
    parser.feed(page.read_text(encoding="utf-8"))
    fetched = [(tag, attrs) for tag, attrs in parser.tags
               if attrs.get("src") or (tag == "link" and attrs.get("href") != "data:,") or tag in ("iframe", "img")]
    assert fetched == []
    assert sum(tag == "style" for tag, _ in parser.tags) == 1
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "scoreboard-data"}, {}]


def test_the_pages_payload_cannot_end_its_script(tmp_path, capsys):
    """A reason holding ``</script>`` (results are data from elsewhere) stays inside the JSON."""
    hostile = record("torch", CASE, "unsupported", reason="</script><script>alert(1)</script>")
    page = tmp_path / "index.html"
    assert run(capsys, "report", str(write(tmp_path / "r.jsonl", [hostile])), "--html", str(page))[0] == 0
    html = page.read_text(encoding="utf-8")
    assert "alert(1)</script>" not in html.replace("<\\/script>", "")
    payload = re.search(r'<script type="application/json" id="scoreboard-data">(.*?)</script>', html, re.S)
    assert payload and json.loads(payload.group(1))["reasons"] == ["</script><script>alert(1)</script>"]


def test_runs_that_disagree_are_flagged_everywhere_and_named_on_stderr(tmp_path, capsys):
    first = write(tmp_path / "a.jsonl", [record("torch", CASE, PASS, 1e-7)])
    second = write(tmp_path / "b.jsonl", [record("torch", CASE, FAIL, 0.5, run=RUN_B)])
    page, text, image = tmp_path / "p.html", tmp_path / "t.md", tmp_path / "s.svg"
    code, _, err = run(capsys, "report", str(first), str(second), "--html", str(page), "--markdown", str(text),
                       "--svg", str(image))
    assert code == 0
    assert "1 case(s) on which runs disagree" in err
    assert f"torch forward {CASE}: check run aaaaaaaaaaaa: pass, pytest run bbbbbbbbbbbb: fail" in err
    html = page.read_text(encoding="utf-8")
    assert 'id="conflicts-banner"' in html and 'class="cell conflict" id="cell-torch-lstm"' in html
    assert "**1 conflict**" in text.read_text(encoding="utf-8")
    assert 'stroke="#6a1b9a"' in image.read_text(encoding="utf-8")


def test_no_output_is_a_usage_error(results, capsys):
    assert "nothing to write: give at least one of --html" in refused(capsys, "report", str(results))


def test_a_newer_schema_version_is_refused(tmp_path, capsys):
    newer = write(tmp_path / "r.jsonl", [record("torch", CASE, PASS, 1e-7) | {"version": 2}])
    message = refused(capsys, "report", str(newer), "--html", str(tmp_path / "p.html"))
    assert message.startswith(f"{newer}:1: written under results schema version 2, newer than this rnn_ref reads")
    assert not (tmp_path / "p.html").exists()


def test_a_truncated_last_line_is_refused(results, tmp_path, capsys):
    text = results.read_text(encoding="utf-8")
    results.write_text(text[: len(text) - 40], encoding="utf-8")  # cut inside the last record
    lines = text.count("\n")
    message = refused(capsys, "report", str(results), "--html", str(tmp_path / "p.html"))
    assert message.startswith(f"{results}:{lines}: the file is truncated (its last line is cut short)")


@pytest.mark.parametrize("content, problem", [
    ("engine,case,outcome\ntorch,lstm,pass\n", ":1: not a JSON record"),
    ('{"engine": "torch", "outcome": "pass"}\n', ':1: not an rnn-ref results record (no "schema": "rnn-ref-results")'),
    ("", ": holds no results records"),
    ("just words", ":1: not a JSON record"),  # no newline at the end, but it never began as a record
], ids=["csv", "other-json", "empty", "words"])
def test_a_file_that_is_not_results_is_refused(tmp_path, capsys, content, problem):
    path = tmp_path / "r.jsonl"
    path.write_text(content, encoding="utf-8")
    assert refused(capsys, "report", str(path), "--svg", str(tmp_path / "s.svg")).startswith(f"{path}{problem}")


def test_a_binary_file_is_refused(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert refused(capsys, "report", str(path), "--svg", str(tmp_path / "s.svg")).startswith(
        f"{path}: cannot be read as a results file")


def test_a_missing_results_file_is_refused(tmp_path, capsys):
    missing = tmp_path / "nowhere.jsonl"
    assert refused(capsys, "report", str(missing), "--html", str(tmp_path / "p.html")) == \
        f"{missing}: no such results file"


def test_a_folder_as_results_is_refused(tmp_path, capsys):
    assert refused(capsys, "report", str(tmp_path), "--html", str(tmp_path / "p.html")) == \
        f"{tmp_path}: is a directory, not a results file"


@pytest.mark.parametrize("option", ["--html", "--markdown", "--svg"])
def test_an_output_that_is_a_folder_is_refused(results, tmp_path, capsys, option):
    folder = tmp_path / "site"
    folder.mkdir()
    assert refused(capsys, "report", str(results), option, str(folder)) == \
        f"{option} {folder}: is a directory; give the file to write"


def test_an_output_that_is_an_input_is_refused(results, capsys):
    before = results.read_bytes()
    assert "is one of the results files read" in refused(capsys, "report", str(results), "--markdown", str(results))
    assert results.read_bytes() == before


def test_two_outputs_in_one_file_are_refused(results, tmp_path, capsys):
    same = tmp_path / "out.txt"
    assert refused(capsys, "report", str(results), "--html", str(same), "--svg", str(same)) == \
        f"--svg {same}: is also --html's file; give each output its own"


def test_an_output_under_a_file_is_refused(results, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert refused(capsys, "report", str(results), "--html", str(blocker / "p.html")) == \
        f"--html {blocker / 'p.html'}: its folder {blocker} is a file"


def test_the_committed_scoreboard_image_shows_the_fixtures_replay():
    """docs/scoreboard.svg (the README's image) holds every engine's cells as the committed fixtures
    replay now: regenerate it (README, "Scoreboard") when a fixture or an adapter's declaration changes."""
    grid = build_grid(merged_records(replayed_records()))
    root = ElementTree.parse(SCOREBOARD_SVG).getroot()
    shown = {(g.get("data-engine"), g.get("data-feature")): g.get("data-status")
             for g in root.iter(f"{SVG}g") if g.get("class") == "cell"}
    assert shown == {(engine, feature): cell.status for (engine, feature), cell in grid.cells.items()}
