"""The ``rnn-ref`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rnn_ref import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-ref",
        description=(
            "Cross-framework equivalence suite for recurrent layers: a NumPy reference of "
            "RNN/LSTM/GRU and adapters for PyTorch, Keras and MXNet Gluon."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnn-ref {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
