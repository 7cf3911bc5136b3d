"""A plug-in module that says why and ends the process at import with status 3."""

import sys

print("rnnbad: no licence server found")
sys.exit(3)
