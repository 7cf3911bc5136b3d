"""A plug-in module that fails on import, as one does when its framework is missing."""

import cupy_is_not_installed_here  # noqa: F401

CupyAdapter = Anything = None
