"""Letting a thread's OpenMP workers go once it has handed its compute to the model's generating thread.

torch (and llama.cpp, which shares the process's libgomp) runs each parallel operator on an OpenMP thread
team, and libgomp keeps one team per thread that has ever computed in parallel. Rosetta loads a model, and
encodes images, on the caller's thread, then decodes on the model's own generating thread: two teams. When
libgomp manages more threads than there are CPUs, it stops spinning between operators and puts its workers
to sleep on a futex after every one (its "throttled" spin count of 100), and each operator then starts with
a wake-up. On a 2-core machine that halved the torch engine's decoding and cost the llama.cpp engine a good
part of its own (benchmarks/bench_embedded.py; docs/benchmarks.md, "One OpenMP team instead of two").

``release_openmp_workers()`` ends the calling thread's team (libgomp's ``omp_pause_resource_all``), so the
generating thread's team is the only one again; a later parallel operator on the calling thread builds a new
team (tens of microseconds). Every libgomp in the process is asked (faiss-cpu brings a second one; asking
only the first found left torch's workers running). Other OpenMP runtimes (LLVM's libomp, Intel's) do not
throttle this way, and are left alone.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

OMP_PAUSE_SOFT = 1  # omp_pause_resource_t (OpenMP 5.0); libgomp pauses the calling thread's pool either way


_PAUSES: dict[str, Any] = {}  # libgomp path -> its omp_pause_resource_all (None: it has none)


def _loaded_libgomps() -> list[Any]:
    """``omp_pause_resource_all`` of every libgomp loaded in this process; never loads one. There can be
    several: torch's, and wheels that bundle their own (faiss-cpu does), each with its own thread pools."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
    except OSError:  # not Linux
        return []
    for path in paths - _PAUSES.keys():
        try:
            pause = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL).omp_pause_resource_all
            pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        except (OSError, AttributeError):  # unloaded since, or a libgomp older than OpenMP 5.0
            pause = None
        _PAUSES[path] = pause
    return [_PAUSES[path] for path in sorted(paths) if _PAUSES[path] is not None]


def release_openmp_workers() -> bool:
    """End the calling thread's OpenMP worker threads in every libgomp; False where there is no libgomp to ask,
    or one refused (inside a parallel region)."""
    pauses = _loaded_libgomps()
    return bool(pauses) and all([pause(OMP_PAUSE_SOFT) == 0 for pause in pauses])
