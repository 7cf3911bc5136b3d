"""The README's worked migration (torch tagger -> Keras Sequential and back) runs as written.

The block between ``<!-- migration:start -->`` and ``<!-- migration:end -->`` is run in a fresh
folder: each ```python block is executed (one namespace, so the models carry over), each
``$ rnn-ref ...`` line of a ```console block is run through ``rnn_ref.cli.main`` and must exit 0,
and every output line the README shows under it must be a line of what it printed (a line
ending in ``…`` a line's beginning). It needs torch and Keras: the keras-torch env (``tox -e
keras-torch``), and skips elsewhere saying so.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rnn_ref.cli import main

pytestmark = pytest.mark.engine
README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```(python|console)\n(.*?)```", re.S)


def migration() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    start, end = text.index("<!-- migration:start -->"), text.index("<!-- migration:end -->")
    return BLOCK.findall(text[start:end])


def commands(console: str) -> list[tuple[str, list[str]]]:
    """(``rnn-ref`` arguments, the output lines shown) per ``$`` line."""
    runs: list[tuple[str, list[str]]] = []
    for line in console.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif line.strip():
            runs[-1][1].append(line.rstrip())
    return runs


def test_the_readme_holds_the_migration():
    blocks = migration()
    assert [kind for kind, _ in blocks] == ["python", "console", "python"]
    assert [command for command, _ in commands(blocks[1][1])] == [
        "rnn-ref inspect model.pt", "rnn-ref inspect tagger.weights.h5",
        "rnn-ref convert --from torch --to keras model.pt tagger.weights.h5",
        "rnn-ref convert --from keras --to torch tagger.weights.h5 fresh.pt"]


def test_the_readme_migration_runs_as_written(engine_or_skip, tmp_path, monkeypatch, capsys):
    engine_or_skip("keras-torch")  # torch and Keras (on torch) in one env
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for kind, body in migration():
        if kind == "python":
            exec(compile(body, str(README), "exec"), namespace)
            continue
        for command, shown in commands(body):
            argv = shlex.split(command)
            assert argv[0] == "rnn-ref"
            capsys.readouterr()
            assert main(argv[1:]) == 0, capsys.readouterr().err
            printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
            for line in shown:
                if line.endswith("…"):
                    assert any(p.startswith(line[:-1]) for p in printed), (command, line, printed)
                else:
                    assert line in printed, (command, line, printed)
