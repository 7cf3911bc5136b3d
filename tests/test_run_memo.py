"""``RunMemo``: a framework's result found again only for byte-identical inputs.

A batch-major-only engine (Keras) computes a TNC case and its NTC twin on identical inputs
once the adapter has transposed them; the memo answers the second run from the first. It must
never answer a run whose inputs differ anywhere: in one byte, in dtype, in shape, or in whether
an optional input (initial state, lengths) was given at all.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.adapters._support.run_memo import RunMemo, digest

X = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize(("other", "what"), [
    ([X.astype(np.float64)], "dtype"),
    ([X.reshape(4, 3)], "shape"),
    ([np.where(np.arange(12).reshape(3, 4) == 7, np.nextafter(X, np.inf), X)], "one ulp of one entry"),
    ([X, None], "an input more"),
])
def test_inputs_that_differ_anywhere_have_another_digest(other, what):
    assert digest([X]) != digest(other), what


def test_the_order_of_the_inputs_counts_and_a_scalar_is_not_a_vector():
    assert digest([X, None]) != digest([None, X])
    assert digest([np.array(1.0)]) != digest([np.array([1.0])])


def test_an_array_like_is_read_as_its_array_and_anything_else_is_refused():
    class Tensor:  # a framework tensor: its repr abbreviates, its __array__ does not
        def __init__(self, array):
            self.array = array

        def __repr__(self):
            return "Tensor(...)"

        def __array__(self, dtype=None, copy=None):
            return self.array

    assert digest([Tensor(X)]) == digest([X]) != digest([Tensor(X + 1)])
    with pytest.raises(TypeError, match="object"):
        digest([{"x": X}])


def test_equal_inputs_have_one_digest_whatever_their_memory_layout():
    assert digest(["forward", X, None]) == digest(["forward", np.asfortranarray(X).copy(order="F"), None])
    assert digest([X.T.copy()]) == digest([np.ascontiguousarray(X.T)])


def test_a_result_is_found_by_its_key_and_copied_both_ways():
    memo: RunMemo[tuple] = RunMemo()
    result = (np.ones(3), [np.zeros(2), None])
    memo.keep(b"k", result)
    result[0][:] = 7.0  # the caller's array changes after keeping: the memo's does not
    found = memo.find(b"k")
    np.testing.assert_array_equal(found[0], np.ones(3))
    assert found[1][1] is None and isinstance(found[1], list)
    found[0][:] = 5.0  # a finder changes its copy: the next finder does not see it
    np.testing.assert_array_equal(memo.find(b"k")[0], np.ones(3))
    assert memo.find(b"other") is None
    assert memo.hits == 2


def test_the_memo_keeps_the_most_recently_used_results_only():
    memo: RunMemo[tuple] = RunMemo(size=2)
    memo.keep(b"a", (np.zeros(1),))
    memo.keep(b"b", (np.zeros(1),))
    assert memo.find(b"a") is not None  # a is now the most recent
    memo.keep(b"c", (np.zeros(1),))
    assert memo.find(b"b") is None
    assert memo.find(b"a") is not None and memo.find(b"c") is not None


def test_computed_runs_the_computation_once_per_key():
    memo: RunMemo[tuple] = RunMemo()
    runs = []

    def compute():
        runs.append(1)
        return (np.full(2, float(len(runs))),)

    first, second = memo.computed(b"k", compute), memo.computed(b"k", compute)
    assert len(runs) == 1 and np.array_equal(first[0], second[0]) and first[0] is not second[0]
    memo.computed(b"other", compute)
    assert len(runs) == 2
