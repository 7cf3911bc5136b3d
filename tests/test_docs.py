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
