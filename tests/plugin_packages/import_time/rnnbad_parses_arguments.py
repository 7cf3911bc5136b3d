"""A plug-in module that parses the command line at import: argparse prints usage and exits 2."""

import argparse

parser = argparse.ArgumentParser(prog="rnnbad")
parser.add_argument("--mine", required=True)
options = parser.parse_args([])
