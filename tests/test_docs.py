"""docs/weight-mapping.md is generated from the rows; a stale file fails here."""

from __future__ import annotations

from pathlib import Path

from rnn_ref.adapters import ENGINES
from rnn_ref.cli.docs import DOCS_PATH, generate

ROOT = Path(__file__).resolve().parent.parent


def test_weight_mapping_doc_is_up_to_date():
    assert DOCS_PATH == ROOT / "docs" / "weight-mapping.md"
    on_disk = DOCS_PATH.read_text(encoding="utf-8")
    assert on_disk == generate(), "docs/weight-mapping.md is stale: run `rnn-ref docs` and commit it"


def test_doc_covers_every_engine_and_says_what_is_unsupported():
    text = generate()
    for engine in ENGINES:
        assert f"## {engine}\n" in text
        assert f"### {engine}: LSTM with projection" in text
    assert "### keras: LSTM with projection\n\nUnsupported: Keras LSTMCell has no projection" in text
    assert "### torch: GRU, reset_before\n\nUnsupported: torch.nn.GRU applies the reset gate after" in text
    assert "`rnn.cell.cells[0].bias`" not in text  # documented layers are bidirectional: one cell per level
    assert "| `bidirectional[0].forward_layer.cell.bias` | (4H,) | `[0:H]` | `l0.fwd.b_ih.i` + `l0.fwd.b_hh.i` |  | sum |" in text


def test_readme_links_the_doc():
    assert "docs/weight-mapping.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_engine_table_is_up_to_date():
    """The README's engine table is generated from the registry and the adapters' records."""
    from rnn_ref.cli.docs import with_engine_table

    on_disk = (ROOT / "README.md").read_text(encoding="utf-8")
    assert on_disk == with_engine_table(on_disk), (
        "the README's engine table is stale: run `python -m rnn_ref.cli.docs --readme README.md` and commit it")


def test_engine_table_has_one_row_per_built_in_engine_and_its_records_in_words():
    from rnn_ref.cli.docs import engine_table

    rows = [line for line in engine_table().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(ENGINES)  # the registry's order, no plug-in
    by_engine = {row.split("`")[1]: row.rsplit(" | ", 1)[1].removesuffix(" |") for row in rows}
    assert by_engine["torch"] == "GRU reset_before, options (only RNN's `nonlinearity`)"
    assert by_engine["gluon"] == (
        "no bias, GRU reset_before, options (only RNN's `activation`), lengths on the native kernel, gradients of projection (no CPU backward) / "
        "lengths ignored in float32 (apache/mxnet#19323), relu float64, gradients of 3+-layer RNN in float64 "
        "(middle-layer input weights)")


def test_an_adapter_without_records_is_described_by_its_reasons(monkeypatch):
    """A 0.1-style adapter (``limits`` typed, ``unsupported_reason`` overridden) has no records to
    summarize: the table gives its reasons in full rather than the records it inherited."""
    from rnn_ref.adapters import Adapter
    from rnn_ref.cli import docs

    class Legacy(Adapter):
        name = "legacy"
        limits = ("no GRU | ever",)
        mapping = version = build = native_arrays = run = None  # type: ignore[assignment]

    assert not docs.described_by_records(Legacy)
    monkeypatch.setattr(docs, "adapter_object", lambda engine: Legacy())
    assert docs.limits_in_words("torch") == "no GRU | ever"
    assert "no GRU \\| ever" in docs.engine_table()


def test_the_engine_table_command_updates_and_checks(tmp_path):
    from rnn_ref.cli.docs import (
        ENGINES_END,
        ENGINES_START,
        GRADIENTS_END,
        GRADIENTS_START,
        engine_table,
        gradients_sentence,
        main,
    )

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{ENGINES_START}\nold\n{ENGINES_END}\nrest\n{GRADIENTS_START}\nall of them\n{GRADIENTS_END}\n",
                      encoding="utf-8")
    assert main(["--readme", str(readme), "--check"]) == 1
    assert main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == (f"# x\n{ENGINES_START}\n{engine_table()}\n{ENGINES_END}\nrest\n"
                                                  f"{GRADIENTS_START}\n{gradients_sentence()}\n{GRADIENTS_END}\n")
    assert main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("no markers\n", encoding="utf-8")
    assert main(["--readme", str(readme)]) == 2


def test_readme_gradients_sentence_is_up_to_date():
    from rnn_ref.cli.docs import with_gradients_sentence

    on_disk = (ROOT / "README.md").read_text(encoding="utf-8")
    assert on_disk == with_gradients_sentence(on_disk), (
        "the README's gradients sentence is stale: run `python -m rnn_ref.cli.docs --readme README.md` and commit it")


def test_the_gradients_sentence_says_what_the_adapters_declare():
    """Which engines differentiate is the adapters' ``differentiable``, never typed: every built-in
    engine is named once, and each one that does not differentiate with its own reason."""
    from rnn_ref.adapters import ENGINES, adapter_object
    from rnn_ref.cli.docs import gradients_sentence, why_not_differentiated

    sentence = gradients_sentence()
    runs, *rest = sentence.split("\n")[2:]
    for name in ENGINES:
        adapter = adapter_object(name)
        assert (f"`{name}`" in runs) is adapter.differentiable, name
        if not adapter.differentiable:
            assert f"- `{name}`: {why_not_differentiated(name)}" in rest
    assert "`keras-jax`, `flax` and `flax-optimized` differentiate the pairwise subset" in sentence
    assert why_not_differentiated("onnx").startswith("onnxruntime is an inference runtime")
