"""The case vocabulary that adapters and the judge both speak.

The case matrix (``Case``, its readable ids), limits and known defects as records (``Limit``,
``Defect``, shared predicates, ``Expectation``), defect signatures (what a defect computes
instead) and the cotangents of gradient cases.
"""
