"""Verdicts as data: every run can write its verdicts as JSON lines, and a report reads them back.

``records.py`` makes one record per (engine, case, forward or gradients) from a judged
``CaseResult``; ``reading.py`` reads results files back, refusing what it cannot trust, and
merges several runs (shards, machines), flagging cases on which runs disagree. The format is
docs/results-schema.md.
"""

from rnn_ref.results.reading import Merged, ResultsError, merged_records, read_results
from rnn_ref.results.records import SCHEMA, VERSION, ResultsWriter, RunInfo, record_of

__all__ = ["SCHEMA", "VERSION", "Merged", "ResultsError", "ResultsWriter", "RunInfo", "merged_records", "read_results",
           "record_of"]
