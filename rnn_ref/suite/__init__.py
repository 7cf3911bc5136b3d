"""The equivalence matrix as an installed test suite: run it on any engine from any project.

    pytest --pyargs rnn_ref.suite --engines NAME

runs every case of ``rnn_ref.cases.matrix`` on engine NAME (a built-in or a plug-in declared in the
``rnn_ref.engines`` entry-point group) and judges it against the NumPy reference, with no
test file copied into the calling project. Test ids read as what they test
(``NAME-lstm-L2-bi-NTC-h0-len-f32``); a failure names the tensor, the error, the worst index
and the command that reruns just that case. The ``--engines`` option comes from
``rnn_ref.pytest_plugin``; the parametrization from ``rnn_ref.suite.matrix``.
"""
