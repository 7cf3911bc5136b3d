"""Execution speed, in one place: run memo, layer reuse, JAX op by op, the compiled-from-steps policy.

One rule binds every module here: a cache saves time and never changes a verdict. A cached
result is the result of the same call on the same inputs (keyed by their bytes), and every
cache is bounded.
"""
