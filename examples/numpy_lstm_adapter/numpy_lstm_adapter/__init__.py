"""A small NumPy recurrent library (``layers``) and its rnn_ref adapter (``adapter``)."""

__version__ = "0.1.0"
