"""``python -m rnn_ref`` is the ``rnn-ref`` command."""

import sys

from rnn_ref.cli import main

sys.exit(main())
