"""The scoreboard page in a real browser: headless Chromium, driven by Selenium through the system chromedriver.

The page is ``rnn-ref report``'s from two results files: every built-in engine's fixtures
replayed (what ``rnn-ref check --results`` writes in the NumPy-only env), and a second run that
disagrees on one case. What the script shows is compared with what the Python aggregation
(rnn_ref/report/grid.py) says: every engine row, each cell's status, a clicked cell's cases, the
rows the family filter leaves, the cells and cases the dtype filter leaves; the browser logs no
error, and a screenshot is saved to ``$RNN_REF_ARTIFACTS/scoreboard.png`` (default: a temporary
folder; the path is printed).

Without chromium, chromedriver or selenium the tests skip saying which is missing, except under
``RNN_REF_REQUIRE_BROWSER=1`` (.ci/run, CI), where they fail.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from report_results import RUN_B, replayed_records, write

from rnn_ref.cli import main
from rnn_ref.judge.runner import FAIL, PASS
from rnn_ref.report.grid import FEATURES, Grid, build_grid
from rnn_ref.results import Merged, merged_records

REQUIRED = os.environ.get("RNN_REF_REQUIRE_BROWSER") == "1"


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip (a failure under RNN_REF_REQUIRE_BROWSER=1) naming what is missing."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium is not installed (tox -e report installs it)")
    browser = os.environ.get("CHROMIUM") or next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if browser is None:
        missing.append("no chromium on PATH (apt-get install -y chromium)")
    if driver is None:
        missing.append("no chromedriver on PATH (apt-get install -y chromium-driver)")
    if missing:
        if REQUIRED:
            pytest.fail("RNN_REF_REQUIRE_BROWSER=1, but " + "; ".join(missing))
        pytest.skip("; ".join(missing))
    assert browser is not None and driver is not None
    return browser, driver


@pytest.fixture(scope="module")
def scoreboard(tmp_path_factory) -> tuple[Path, Merged, dict[str, Any]]:
    """The page, the merged results it shows, and the forward record on which the second run disagrees."""
    folder = tmp_path_factory.mktemp("scoreboard")
    records = replayed_records()
    disputed = next(r for r in records if r["engine"] == "torch" and r["kind"] == "forward" and r["outcome"] == PASS
                    and r["case"]["mode"] == "gru")
    other = copy.deepcopy(disputed) | {"outcome": FAIL, "max_error": 0.25, "run": RUN_B.to_json()}
    files = [write(folder / "replayed.jsonl", records), write(folder / "other.jsonl", [other])]
    page = folder / "index.html"
    assert main(["report", *map(str, files), "--html", str(page)]) == 0
    return page, merged_records([*records, other]), disputed


@pytest.fixture(scope="module")
def driver(request):
    browser, chromedriver = browser_paths()  # first: without a browser, nothing is built
    page = request.getfixturevalue("scoreboard")[0]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1900,1300"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    chrome.get(page.as_uri())
    yield chrome
    chrome.quit()


def no_console_errors(chrome) -> None:
    errors = [entry for entry in chrome.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors


def cell(chrome, engine: str, feature: str):
    from selenium.webdriver.common.by import By

    return chrome.find_element(By.CSS_SELECTOR, f'td.cell[data-engine="{engine}"][data-feature="{feature}"]')


def shown_cases(chrome) -> dict[tuple[str, str], str]:
    """The detail's visible case rows (in one call to the browser): (kind, case id) -> outcome."""
    rows = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#detail-cases tr.case')).filter(r => r.offsetParent !== null)"
        ".map(r => [r.dataset.kind, r.dataset.case, r.dataset.outcome]);")
    return {(kind, case): outcome for kind, case, outcome in rows}


def shown_statuses(chrome) -> dict[tuple[str, str], str]:
    """Every cell's ``data-status`` (in one call to the browser): (engine, feature) -> status."""
    cells = chrome.execute_script("return Array.from(document.querySelectorAll('td.cell'))"
                                  ".map(c => [c.dataset.engine, c.dataset.feature, c.dataset.status]);")
    return {(engine, feature): status for engine, feature, status in cells}


def expected_cases(grid: Grid, engine: str, feature: str) -> dict[tuple[str, str], str]:
    return {(entry.key[1], entry.key[2]): entry.verdict for entry in grid.cell(engine, feature).entries}


def select_dtype(chrome, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(chrome.find_element(By.ID, "dtype-filter")).select_by_value(value)


def test_every_engine_has_its_row_and_every_cell_its_status(driver, scoreboard):
    from selenium.webdriver.common.by import By

    grid = build_grid(scoreboard[1])
    rows = driver.find_elements(By.CSS_SELECTOR, "#scoreboard tr.engine-row")
    assert [row.get_attribute("data-engine") for row in rows] == grid.engines
    assert len(grid.engines) == len({key[0] for key in scoreboard[1].records})
    shown = shown_statuses(driver)
    assert shown == {key: value.status for key, value in grid.cells.items()}
    assert {"pass", "mixed", "defect", "fail", "unsupported"} <= set(shown.values())
    no_console_errors(driver)


def test_a_clicked_cell_lists_its_cases_and_a_conflict_shows_both_runs(driver, scoreboard):
    from selenium.webdriver.common.by import By

    _, merged, disputed = scoreboard
    grid = build_grid(merged)
    detail = driver.find_element(By.ID, "detail")
    select_dtype(driver, "all")
    cell(driver, "keras-jax", "float64").click()
    assert detail.is_displayed() and detail.get_attribute("data-engine") == "keras-jax"
    assert shown_cases(driver) == expected_cases(grid, "keras-jax", "float64")
    assert "known defect" in shown_cases(driver).values()
    conflicted = cell(driver, "torch", "gru")
    assert "conflict" in conflicted.get_attribute("class").split()
    assert conflicted.find_element(By.CSS_SELECTOR, ".conflict-flag").is_displayed()
    conflicted.click()
    assert shown_cases(driver) == expected_cases(grid, "torch", "gru")
    row = driver.find_element(By.CSS_SELECTOR, f'#detail-cases tr.case.conflict[data-case="{disputed["case"]["id"]}"]')
    runs = row.find_element(By.CSS_SELECTOR, "td.runs").text
    assert "check run" in runs and ": pass" in runs and "pytest run bbbbbbbbbbbb" in runs and ": fail" in runs
    assert row.get_attribute("data-outcome") == "conflict"
    assert driver.find_element(By.ID, "conflicts-banner").is_displayed()
    no_console_errors(driver)


def test_the_family_filter_hides_and_shows_rows(driver, scoreboard):
    from selenium.webdriver.common.by import By

    grid = build_grid(scoreboard[1])
    family = grid.families[grid.engines[0]]
    box = driver.find_element(By.CSS_SELECTOR, f'input.family-filter[value="{family}"]')
    box.click()
    visible = {row.get_attribute("data-engine"): row.is_displayed()
               for row in driver.find_elements(By.CSS_SELECTOR, "tr.engine-row")}
    assert visible == {engine: grid.families[engine] != family for engine in grid.engines}
    box.click()
    assert all(row.is_displayed() for row in driver.find_elements(By.CSS_SELECTOR, "tr.engine-row"))
    no_console_errors(driver)


def test_the_dtype_filter_shows_that_dtypes_cells_and_cases(driver, scoreboard):
    merged = scoreboard[1]
    grids = {dtype: build_grid(merged, dtype) for dtype in ("float32", "float64")}
    everything = build_grid(merged)
    # a cell whose colour the filter changes: the filter is seen to act
    engine, feature = next(key for key, value in everything.cells.items()
                           if value.status != grids["float64"].cells[key].status)
    select_dtype(driver, "all")
    cell(driver, engine, feature).click()
    assert shown_cases(driver) == expected_cases(everything, engine, feature)
    for dtype, grid in grids.items():
        select_dtype(driver, dtype)
        assert shown_statuses(driver) == {key: value.status for key, value in grid.cells.items()}
        assert shown_cases(driver) == expected_cases(grid, engine, feature)
    select_dtype(driver, "all")
    assert shown_statuses(driver) == {key: value.status for key, value in everything.cells.items()}
    assert shown_cases(driver) == expected_cases(everything, engine, feature)
    no_console_errors(driver)


def test_a_screenshot_of_the_page_with_a_detail_open(driver, scoreboard, tmp_path_factory, capsys):
    from selenium.webdriver.common.by import By

    select_dtype(driver, "all")
    cell(driver, "torch", "gru").click()
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];")
    driver.set_window_size(max(width, 1900), min(height + 200, 6000))
    folder = Path(os.environ.get("RNN_REF_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scoreboard.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    assert driver.find_element(By.ID, "detail").is_displayed()
    with capsys.disabled():
        print(f"\nscoreboard screenshot: {path}")
    assert len(FEATURES) == len(driver.find_elements(By.CSS_SELECTOR, "#scoreboard th.feature"))
    no_console_errors(driver)


@pytest.mark.parametrize("required", [False, True], ids=["skips", "fails-when-required"])
def test_a_missing_browser_skips_or_fails_saying_what_is_missing(monkeypatch, required):
    monkeypatch.setattr(sys.modules[__name__], "REQUIRED", required)
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.delenv("CHROMEDRIVER", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(outcome, match=r"no chromium on PATH .*; no chromedriver on PATH"):
        browser_paths()
