"""``python -m bench.profiled OUT.prof worker`` runs ``python -m service worker`` under cProfile,
counting CPU time (not wall time, which a loaded machine inflates); the profile is written when the
process stops. Read it with ``python -m pstats OUT.prof`` (``sort tottime``, ``stats 30``).
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    out, *arguments = sys.argv[1:]
    sys.argv = ["service", *arguments]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module("service", run_name="__main__", alter_sys=True)
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
