"""Where a source checkout keeps what the package reads beside itself: golden fixtures and generated docs.

Computed once here from this file's place (``rnn_ref/core/paths.py``), so that moving a module
never moves a path.
"""

from __future__ import annotations

from pathlib import Path

#: the checkout's root: the folder that holds ``rnn_ref/``, ``fixtures/`` and ``docs/``
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent.parent
#: the golden fixtures, one folder per engine (fixtures/README.md)
FIXTURES_ROOT = CHECKOUT_ROOT / "fixtures"
#: the generated weight-mapping reference (``rnn-ref docs``)
DOCS_PATH = CHECKOUT_ROOT / "docs" / "weight-mapping.md"
