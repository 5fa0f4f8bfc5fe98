"""The one step of a compaction a listing reader can observe: two directories exchanged atomically.

Linux's ``renameat2(RENAME_EXCHANGE)`` swaps two paths in one system call: a reader listing the
partition directory sees every old file or every new one, never a mix and never an empty partition.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: str, b: str) -> None:
    """Swap the directories ``a`` and ``b`` atomically (both must exist, on one filesystem)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError("this C library has no renameat2: atomic partition swap needs Linux with glibc 2.28+")
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"could not exchange {a} and {b}: {os.strerror(errno)}")
