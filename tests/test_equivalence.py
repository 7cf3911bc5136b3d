"""Every selected engine against the NumPy reference, over the whole case matrix.

The tests live in the installed package (rnn_ref/suite/test_equivalence.py) so that other
projects run them on their own engines (`pytest --pyargs rnn_ref.suite --engines NAME`);
this module runs the very same functions here, under tests/conftest.py's parametrization.
"""

from __future__ import annotations

from rnn_ref.suite.test_equivalence import (
    test_an_unsupported_case_is_refused,
    test_engine_matches_reference,
    test_every_declared_limit_is_hit_by_some_case,
    test_extract_of_build_gives_back_the_params_bit_exactly,
    test_rows_cover_every_native_element_and_every_canonical_block_once,
)

__all__ = [  # collected by pytest under their own names
    "test_an_unsupported_case_is_refused",
    "test_engine_matches_reference",
    "test_every_declared_limit_is_hit_by_some_case",
    "test_extract_of_build_gives_back_the_params_bit_exactly",
    "test_rows_cover_every_native_element_and_every_canonical_block_once",
]
