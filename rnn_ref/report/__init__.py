"""``rnn-ref report``: the conformance scoreboard rendered from results files (docs/results-schema.md).

``grid.py`` aggregates merged results into engines × features cells; ``provenance.py`` reads the
runs, versions and converters off them; ``html.py`` (with ``assets.py``) writes the one-file page,
``markdown.py`` the README's tables and ``svg.py`` the summary image. The command is
``rnn_ref/cli/report.py``.
"""
