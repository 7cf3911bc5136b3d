"""A plug-in module that never finishes importing (as one that waits on a lock or a network share)."""

import time

time.sleep(10**6)
