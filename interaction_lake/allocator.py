"""The memory allocators' options: mimalloc's for the engine and Arrow, set before either library loads; glibc's.

Sail (the embedded engine) and pyarrow (landing's staged parts, the Spark Connect client) both allocate with
mimalloc, which reads its options from the environment once, when its library loads. Two are set here, each only
where the operator has not set it (their own value wins):

* ``MIMALLOC_ARENA_EAGER_COMMIT=0``: arena memory is committed as it is used, not when reserved;
* ``MIMALLOC_PURGE_DELAY=250``: memory freed and not reused within 250 ms goes back to the system. Immediately
  (``0``, the setting until 2026-12-05) kept the server smallest, but made every batch's buffers page-fault in afresh:
  the kernel's page-fault handling was a third of landing's CPU. mimalloc's own default (10 ms) keeps a process growing
  with every Delta rewrite (bench/README.md, "Memory"). 250 ms: landing ~20% and silver and gold ~15% faster, the
  engine's server ~300 MB larger at its peak (bench/README.md, "The allocator's purge delay").

The rest of a process -- Python's own larger objects, the gRPC and protobuf of the Spark Connect client, delta-rs --
allocates with the C library's ``malloc``. glibc's ``malloc`` raises its mmap threshold each time a block above it is
freed (up to 32 MiB), so the large buffers of query results and messages, once mapped and unmapped one by one, end up
carved from the heap, which keeps their memory when they are freed: a process that ran the pipeline day after day kept
1-2 MB more a day, free memory in its heaps going from 12 to 75 MB over 60 days (bench/README.md, "glibc's mmap
threshold"). ``fix_mmap_threshold`` sets it to glibc's own starting value, 128 KiB, which also stops it moving: blocks
above it are mapped for their life and given back when freed. Not where the operator set it (``MALLOC_MMAP_THRESHOLD_``,
or ``glibc.malloc.mmap_threshold`` in ``GLIBC_TUNABLES``), nor under another C library.

``configure`` runs once, when ``interaction_lake`` is imported -- before any of its code can load pyarrow or Sail; the
engine's server process, where it runs apart, inherits this process's environment (``engine``) and, importing the
package, sets its own mmap threshold."""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Mapping, MutableMapping

OPTIONS = {"MIMALLOC_PURGE_DELAY": "250", "MIMALLOC_ARENA_EAGER_COMMIT": "0"}
MMAP_THRESHOLD = 128 * 1024  # glibc's own initial value; set, it no longer moves
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def configure(environment: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``environment`` with ``OPTIONS`` where it does not set them already."""
    for name, value in OPTIONS.items():
        environment.setdefault(name, value)
    return environment


def fix_mmap_threshold(environment: Mapping[str, str]) -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` for this process, unless the operator chose one in
    ``environment`` or the C library is not glibc; whether it did."""
    if "MALLOC_MMAP_THRESHOLD_" in environment or "glibc.malloc.mmap_threshold" in environment.get("GLIBC_TUNABLES", ""):
        return False
    if not on_glibc():
        return False
    return ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def on_glibc() -> bool:
    """Whether this process's C library is glibc (on Linux), whose ``mallopt`` ``fix_mmap_threshold`` calls."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
