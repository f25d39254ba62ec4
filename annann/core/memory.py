"""Freed memory handed back to the operating system after a build.

A build allocates and frees large scratch arrays (NN-descent's candidate lists and update
buffers, k-means samples, permuted copies of the rows). glibc raises its mmap and trim thresholds
to the largest block freed so far, so later scratch comes from the heap and up to twice that
size stays mapped after it is freed. A resident-memory measurement around ``fit`` (ann-benchmarks'
index size) would count it as the index: on a small set it was a large share of the knngraph
build's growth (docs/design-notes.md).
"""

import ctypes
import sys


def release_free_memory():
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim(0)``, every
    arena); True if done, False where the C library has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
