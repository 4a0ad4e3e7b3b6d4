"""Bulk inference on thousands of inputs: the Python objects around the tensors kept cheap, and whether the CPU does
the tensors' arithmetic in bfloat16 natively."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

import torch

# The collector is one switch for the whole process, and every page session predicts in a thread of its own: the
# pauses are counted, so the collector comes back when the last one ends (if it was on when the first began),
# never while another thread is still in its bulk work, and never left off for good.
_PAUSES = threading.Lock()
_paused = {"count": 0, "was_enabled": False}


@contextmanager
def collector_paused():
    """Python's cycle collector off for a bulk of acyclic allocations (word lists, id lists, cache entries,
    result records). Thousands of inputs make enough of them to set off full collections, each walking the whole
    heap: encoding 10,000 new tweets took three times as long with it on. Reference counting still frees
    everything; the collector is back on (if it was) when the last pause in any thread ends."""
    with _PAUSES:
        if _paused["count"] == 0:
            _paused["was_enabled"] = gc.isenabled()
            gc.disable()
        _paused["count"] += 1
    try:
        yield
    finally:
        with _PAUSES:
            _paused["count"] -= 1
            if _paused["count"] == 0 and _paused["was_enabled"]:
                gc.enable()


def native_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX tiles; the checks torch's own compiler
    makes, private to torch: a torch without them answers no). Elsewhere bfloat16 is emulated, and convolutions and
    recurrences run slower in it than in float32."""
    checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return any(check() for check in checks if check is not None)
