"""The NumPy truth: the reference forward, its hand-written BPTT, input checks and finite differences.

Shapes and conventions are the contract's (docs/design.md, section 2): gates one block per gate
(LSTM ``i f g o``, GRU ``r z n``), states ``(L·D, N, R)``, outputs forward features first.
Everything computes in float64 unless asked for the input's dtype.
"""
