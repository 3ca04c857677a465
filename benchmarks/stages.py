"""Where godo's CPU goes on the live storm, stage by stage, without a profiler's
distortion: the same work as `godo record`, timed by CPU per stage.

    sudo .venv/bin/python benchmarks/stages.py [--iterations 30000] [--log FILE]

Records the storm once (`godo record --store null --raw-log FILE -- storm N`,
under the live lock), or reads FILE if given; then feeds its records as netlink
frames, 64 to a batch as the Receiver hands them over, through the compiled
pipeline (and the pure one), and the resulting activities through the Tracker
(host scope, null store). The raw log keeps no EOE records, which the live
stream has one of per event: the pipeline's live cost is a little higher.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import LIVE_LOCK, build, godo_command

from godo.run.wiring import Run
from godo.store.base import NullStore
from godo.tracker import Scope
from support.frames import lines_to_frames

_SIZE = struct.Struct("=I")
SLOTS = 64


def frame_batches(log: bytes) -> list[bytes]:
    frames = lines_to_frames(log)
    batches, start, off, count = [], 0, 0, 0
    while off < len(frames):
        (size,) = _SIZE.unpack_from(frames, off)
        off += 4 + size
        count += 1
        if count == SLOTS:
            batches.append(frames[start:off])
            start, count = off, 0
    if start < off:
        batches.append(frames[start:off])
    return batches


def time_pipeline(module: str, batches: list[bytes]):
    from importlib import import_module
    pipeline = import_module(module).Pipeline()
    start = time.process_time()
    out = [pipeline.feed_frames(batch, 0.0) for batch in batches]
    out.append(pipeline.flush())
    return time.process_time() - start, pipeline.records, out


def time_tracker(activity_batches) -> tuple[float, int]:
    tracker = Run(NullStore("bench"), "unicast", Scope("host"), host="bench", live=True).tracker
    start = time.process_time()
    for batch in activity_batches:
        tracker.process(batch)
    return time.process_time() - start, sum(len(b) for b in activity_batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=30_000, help="storm iterations (3 syscalls each)")
    parser.add_argument("--log", help="a RAW log of a storm already recorded")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="godo-stages-") as tmp:
        if args.log:
            log = Path(args.log).read_bytes()
        else:
            storm = build("storm", Path(tmp))
            out = Path(tmp) / "storm.log"
            done = subprocess.run(["flock", LIVE_LOCK, *godo_command(), "record", "--store", "null",
                                   "--raw-log", str(out), "--", str(storm), str(args.iterations)],
                                  capture_output=True, text=True,
                                  env=dict(os.environ, GODO_DATA_DIR=str(Path(tmp) / "data")))
            if done.returncode != 0:
                print(f"godo record failed:\n{done.stderr}", file=sys.stderr)
                return 1
            log = out.read_bytes()
    batches = frame_batches(log)
    print(f"{sum(1 for line in log.splitlines() if line.startswith(b'type=')):,} records "
          f"in {len(batches):,} batches of up to {SLOTS}")
    tracked = None  # the activities the tracker is timed on: the compiled twin's, else the pure one's
    for name, module in (("compiled", "godo.hotpath._hotpath_c"), ("pure", "godo.hotpath._pipeline_py")):
        try:
            seconds, records, activities = time_pipeline(module, batches)
        except ImportError as exc:
            print(f"pipeline {name:<8} not available: {exc}")
            continue
        print(f"pipeline {name:<8} {seconds:7.3f} s CPU  {1e6 * seconds / records:6.2f} us/record")
        if tracked is None:
            tracked = activities
    seconds, count = time_tracker(tracked)
    print(f"tracker  (Python)  {seconds:7.3f} s CPU  {1e6 * seconds / count:6.2f} us/activity "
          f"({count:,} activities)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
