"""Root pytest configuration: the rnn_ref pytest plugin, which defines ``--engines``.

An installed rnn_ref (tox installs it editable) registers ``rnn_ref.pytest_plugin`` through
its pytest11 entry point, whose name is the module's name; naming it here as well makes a
plain source checkout (``PYTHONPATH=. pytest``) work, and pytest loads it once either way.
"""

pytest_plugins = ["rnn_ref.pytest_plugin"]
