"""``rnn-ref diagnose``: name the convention mistake that explains a wrong conversion (NumPy only).

Two forms: ``diagnose_weights`` (a target weight file against a correct conversion of its
source, rnn_ref/diagnosis/weights.py) and ``diagnose_outputs`` (an implementation's outputs
against the reference run with mistaken conventions, rnn_ref/diagnosis/outputs.py). The
catalog of mistakes is in catalog.py (weights) and conventions.py (running a layer); the
search both share in search.py; the findings and verdicts in findings.py; gate orders, found
directly, in gates.py; the words and JSON in render.py.
"""

from rnn_ref.diagnosis.findings import KINDS, Diagnosis, Mistake
from rnn_ref.diagnosis.outputs import Observed, diagnose_outputs
from rnn_ref.diagnosis.weights import diagnose_weights

__all__ = ["KINDS", "Diagnosis", "Mistake", "Observed", "diagnose_outputs", "diagnose_weights"]
