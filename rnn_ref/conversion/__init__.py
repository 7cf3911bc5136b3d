"""File conversion between engines through canonical params: ``formats`` (which format a file
is, read off the families' declarations), ``sizes`` (the layer a file holds), ``convert`` (the
pipeline), ``verify`` (``--verify``: the converted file computes what the source computes, both
sides run on seeded inputs and judged like a case)."""
