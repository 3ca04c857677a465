"""Run the godo CLI under cProfile timed by CPU, not wall clock: during a storm
godo shares 2 CPUs with the storm and the kernel, and wall-clock profiles would
charge it for the time it spent waiting to be scheduled.

    python benchmarks/_profile_godo.py STATS_FILE record --scope host --store null
"""

import cProfile
import sys
import time

from godo.cli import main

if __name__ == "__main__":
    profiler = cProfile.Profile(time.process_time)
    status = 1
    try:
        # godo turns SIGTERM into a clean stop, so the stats are written.
        status = profiler.runcall(main, sys.argv[2:])
    finally:
        profiler.dump_stats(sys.argv[1])
    sys.exit(status)
