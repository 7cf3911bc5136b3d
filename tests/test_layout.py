"""The package's shape (issue 23): small modules with one job each, said in a docstring.

A module past 400 lines holds more than one job; split it by job rather than raise the bound.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rnn_ref"
MODULES = sorted(PACKAGE.rglob("*.py"))
MOST_LINES = 400


def module_id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def layout_problem(source: str) -> str | None:
    """What is wrong with a module's shape: too long, or no docstring of a few words; None when fine."""
    lines = len(source.splitlines())
    if lines > MOST_LINES:
        return f"{lines} lines (at most {MOST_LINES}): split it by job"
    docstring = ast.get_docstring(ast.parse(source))
    if not docstring or len(docstring.split()) < 4:
        return "no docstring saying its job"
    return None


@pytest.mark.parametrize("path", MODULES, ids=module_id)
def test_every_module_is_small_and_says_its_job(path: Path):
    problem = layout_problem(path.read_text(encoding="utf-8"))
    assert problem is None, f"rnn_ref/{module_id(path)}: {problem}"


@pytest.mark.parametrize(("source", "problem"), [
    ('"""A module of one job."""\n' + "x = 1\n" * MOST_LINES, "401 lines (at most 400): split it by job"),
    ("x = 1\n", "no docstring saying its job"),
    ('"""utils"""\n', "no docstring saying its job"),
], ids=["401-lines", "no-docstring", "one-word-docstring"])
def test_planted_layout_problems_are_found(source: str, problem: str):
    assert layout_problem(source) == problem


def test_a_module_of_400_lines_with_a_docstring_is_fine():
    assert layout_problem('"""A module of one job."""\n' + "x = 1\n" * (MOST_LINES - 1)) is None
