"""Every selected engine against the NumPy reference, over the whole case matrix.

The tests live in the installed package (rnn_ref/suite/test_equivalence.py) so that other
projects run them on their own engines (`pytest --pyargs rnn_ref.suite --engines NAME`);
this module runs the very same functions here, under tests/conftest.py's parametrization,
plus what only the built-in engines promise.
"""

from __future__ import annotations

from rnn_ref.adapters import load_adapter
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
    "test_every_declared_defect_states_its_signature",
    "test_every_declared_limit_is_hit_by_some_case",
    "test_extract_of_build_gives_back_the_params_bit_exactly",
    "test_rows_cover_every_native_element_and_every_canonical_block_once",
]


def test_every_declared_defect_states_its_signature(engine):
    """A defect declared only as "wrong" would let any new bug on its cases pass for it. (Built-in
    engines only: a plug-in written before signatures existed keeps today's any-wrong-answer rule.)"""
    from rnn_ref.cases.matrix import all_cases

    adapter = load_adapter(engine)
    unsigned = {c.id for c in all_cases() if adapter.known_defect(c.spec, c.dtype, c.with_lengths) is not None
                and adapter.defect_signature(c.spec, c.dtype, c.with_lengths) is None}
    assert not unsigned, f"{engine} declares defects without a signature on {sorted(unsigned)[:5]}"
