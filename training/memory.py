"""Keep the memory PyTorch frees on CPU, instead of handing it back to the kernel.

glibc returns a freed block above its mmap threshold (and the top of the heap past its trim
threshold) to the kernel at once, and the next step's tensors of the same sizes fault every
page back in, zeroed. With batches of varying length on 2 cores that took 85-90% of the
training process's time in the kernel (100,000 page faults a second; 2026-12-06): a run fell
from 890 to 185 tokens/s within 13 minutes. With freed memory kept (the settings below; the
environment's MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ / MALLOC_MMAP_THRESHOLD_ did the same)
the same run read 875-1,025 tokens/s for an hour with no page faults: later steps reuse the
blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 2**31 - 1  # the most mallopt's int takes: keep up to 2 GiB free at the top
TOP_PAD = 1 << 30  # grow the heap in large steps
MMAP_THRESHOLD = 32 << 20  # the most glibc allows on 64-bit: blocks below it come from the heap


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; True if it took the settings, False
    where there is no glibc (macOS, Windows, musl), which changes nothing."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = {
        M_TRIM_THRESHOLD: TRIM_THRESHOLD,
        M_TOP_PAD: TOP_PAD,
        M_MMAP_THRESHOLD: MMAP_THRESHOLD,
    }
    took = [mallopt(param, value) for param, value in settings.items()]  # each, whatever fails
    return all(t == 1 for t in took)
