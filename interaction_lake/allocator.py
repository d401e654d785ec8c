"""The memory allocator's options for the engine and Arrow, set before either library loads.

Sail (the embedded engine) and pyarrow (landing's staged parts, the Spark Connect client) both allocate with
mimalloc, which reads its options from the environment once, when its library loads. Two are set here, each only
where the operator has not set it (their own value wins):

* ``MIMALLOC_ARENA_EAGER_COMMIT=0``: arena memory is committed as it is used, not when reserved;
* ``MIMALLOC_PURGE_DELAY=250``: memory freed and not reused within 250 ms goes back to the system. Immediately
  (``0``, the setting until 2026-12-05) kept the server smallest, but made every batch's buffers page-fault in afresh:
  the kernel's page-fault handling was a third of landing's CPU. mimalloc's own default (10 ms) keeps a process growing
  with every Delta rewrite (bench/README.md, "Memory"). 250 ms: landing ~20% and silver and gold ~15% faster, the
  engine's server ~300 MB larger at its peak (bench/README.md, "The allocator's purge delay").

``configure`` runs once, when ``interaction_lake`` is imported -- before any of its code can load pyarrow or Sail; the
engine's server process, where it runs apart, inherits this process's environment (``engine``)."""

from __future__ import annotations

from collections.abc import MutableMapping

OPTIONS = {"MIMALLOC_PURGE_DELAY": "250", "MIMALLOC_ARENA_EAGER_COMMIT": "0"}


def configure(environment: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``environment`` with ``OPTIONS`` where it does not set them already."""
    for name, value in OPTIONS.items():
        environment.setdefault(name, value)
    return environment
