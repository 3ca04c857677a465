"""The whole replay, as a user runs it, side by side with a libauparse field walk.

    .venv/bin/python benchmarks/replay.py [--corpus benchmarks/data/corpus.log] [--runs 5]

Each contender is a whole process, timed by wall clock from start to exit, over the
same file, page cache warm, interleaved, best of --runs:

  libauparse       c/auparse_walk.c: every event, record and field (name + raw value)
  replay null      `godo replay --store null FILE`: read, parse, assemble, cook, track,
                   the run's figures; no database (documents are made by a store as it
                   encodes them, so none are made here)
  replay jsonl     `godo replay --jsonl FILE > /dev/null`: the cooked events as JSON lines

and, in one process each, by CPU time, the stages of the same file: parse -> cook
(the compiled Pipeline), the tracker on its activities, and the documents the
tracker's mutations make (what a store would encode).

Targets: replay null >= 1.5x libauparse, replay jsonl >= 1.2x (the libauparse time
over godo's). The file is the corpus less the events libauparse can never complete,
as in offline.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, build, godo_command, machine_load, verdict
from offline import bench_input, warm

NULL_TARGET = 1.5
JSONL_TARGET = 1.2


def wall(cmd: list[str], stdout=subprocess.DEVNULL, env=None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace').strip()}")
    return seconds


def stages(path: str) -> dict:
    """CPU seconds of each stage, in this process (run with --stages)."""
    from godo.hotpath import Pipeline
    from godo.source.logfile import LogSource
    from godo.store.base import NullStore, document_of
    from godo.tracker import Scope, Tracker

    class Keeping(NullStore):
        def write(self, mutations, *, dense=False):
            super().write(mutations, dense=dense)
            kept.extend(mutations)

    kept: list = []
    pipeline = Pipeline()
    tracker = Tracker(Keeping("bench"), host="bench", boot_id="bench", scope=Scope("host"), run="bench")
    hotpath = tracking = 0.0
    activities = 0
    for chunk in [*LogSource(path).chunks(), None]:
        start = time.process_time()
        batch = pipeline.flush() if chunk is None else pipeline.feed_log(chunk, "corpus")
        middle = time.process_time()
        tracker.process(batch)
        if chunk is None:
            tracker.finish(tracker.last_ts)
        tracking += time.process_time() - middle
        hotpath += middle - start
        activities += len(batch)
    start = time.process_time()
    for _name, doc in kept:
        document_of(doc)
    documents = time.process_time() - start
    return {"records": pipeline.records, "activities": activities,
            "mutations": len(kept), "hotpath": hotpath, "tracker": tracking, "documents": documents}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DATA_DIR / "corpus.log"))
    parser.add_argument("--runs", type=int, default=5, help="best of this many runs each")
    parser.add_argument("--stages", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages:
        print(json.dumps(stages(args.stages)))
        return 0
    corpus = Path(args.corpus)
    if not corpus.exists():
        print(f"no corpus at {corpus}: record one with benchmarks/record_corpus.py", file=sys.stderr)
        return 2
    path, note = bench_input(corpus)
    godo = godo_command()
    print(machine_load())
    with tempfile.TemporaryDirectory(prefix="godo-replay-bench-") as tmp:
        walker = build("auparse_walk", Path(tmp), ("auparse",))
        env = dict(os.environ, GODO_DATA_DIR=str(Path(tmp) / "data"))
        env.pop("GODO_CONFIG", None)
        contenders = {
            "libauparse": lambda: wall([str(walker), str(path)]),
            "replay null": lambda: wall([*godo, "replay", "--store", "null", str(path)], env=env),
            "replay jsonl": lambda: wall([*godo, "replay", "--jsonl", str(path)], env=env),
        }
        warm(path)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for run in range(1, args.runs + 1):
            for name, measure in contenders.items():
                times[name].append(measure())
                print(f"run {run} {name:<13} {times[name][-1]:6.3f} s")
        done = subprocess.run([sys.executable, __file__, "--stages", str(path)],
                              capture_output=True, text=True, check=True)
        stage = json.loads(done.stdout)
    print(machine_load(before=False))
    best = {name: min(samples) for name, samples in times.items()}
    records = stage["records"]
    print(f"\n{path} ({records:,} records; {note})\n")
    print(f"{'contender':<14} {'best s':>8} {'records/s':>12}")
    for name, seconds in best.items():
        print(f"{name:<14} {seconds:8.3f} {records / seconds:12,.0f}")
    print(f"\nstages, CPU s in one process: parse->cook {stage['hotpath']:.3f}   tracker "
          f"{stage['tracker']:.3f} ({stage['activities']:,} activities)   documents "
          f"{stage['documents']:.3f} ({stage['mutations']:,}, made by a store as it encodes)")
    null_ratio = best["libauparse"] / best["replay null"]
    jsonl_ratio = best["libauparse"] / best["replay jsonl"]
    print(f"\nreplay null  / libauparse  {null_ratio:5.2f}x  (target >= {NULL_TARGET}x)  "
          f"{verdict(null_ratio >= NULL_TARGET)}")
    print(f"replay jsonl / libauparse  {jsonl_ratio:5.2f}x  (target >= {JSONL_TARGET}x)  "
          f"{verdict(jsonl_ratio >= JSONL_TARGET)}")
    return 0 if null_ratio >= NULL_TARGET and jsonl_ratio >= JSONL_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
