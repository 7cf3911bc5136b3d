"""A plug-in module whose own code raises KeyboardInterrupt at import (no Ctrl-C was pressed)."""

raise KeyboardInterrupt
