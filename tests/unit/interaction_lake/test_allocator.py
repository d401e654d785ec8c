"""The C library's allocator: importing the package fixes glibc's mmap threshold, unless the operator chose one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from interaction_lake import allocator

# Frees a mapped 4 MiB block (glibc's dynamic threshold rises past it), then asks for another and says whether it was
# mapped (given back when freed) or carved from the heap (kept there when freed).
MAPPED = """
import ctypes, sys
if sys.argv[1] == "import":
    import interaction_lake
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                                                "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = Info, ctypes.c_void_p, [ctypes.c_void_p]
size = 4 << 20
libc.free(libc.malloc(size))
block = libc.malloc(size)
print(libc.mallinfo2().hblkhd >= size)
"""

glibc = pytest.mark.skipif(not allocator.on_glibc(), reason="glibc's malloc only")


def mapped(*args: str, **environment: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    done = subprocess.run([sys.executable, "-c", MAPPED, *args], env={**env, **environment}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split() == ["True"]


@glibc
def test_a_large_block_freed_does_not_move_the_next_ones_into_the_heap_once_the_package_is_imported():
    """What kept a process running the pipeline day after day growing 1-2 MB a day (bench/README.md, "glibc's mmap
    threshold"): without the package, glibc carves the second block from its heap."""
    assert not mapped("plain")
    assert mapped("import")


@glibc
@pytest.mark.parametrize("environment", [{"MALLOC_MMAP_THRESHOLD_": str(1 << 30)},
                                         {"GLIBC_TUNABLES": f"glibc.malloc.mmap_threshold={1 << 30}"}])
def test_the_operators_own_mmap_threshold_wins(environment):
    assert not mapped("import", **environment)
