"""The whole replay, as a user runs it, side by side with a libauparse field walk;
and what every godo command pays to start.

    .venv/bin/python benchmarks/replay.py [--corpus benchmarks/data/corpus.log] [--runs 3] [--busy]
    .venv/bin/python benchmarks/replay.py --startup-only [--busy]

Start-up: the CPU seconds (user + system, from wait4) of `python -c pass`, `godo
--version` and `godo replay --store null` of an empty log, whole processes,
interleaved, median of --startup-runs. Target: both godo commands <= 0.08 s.

Then each contender is a whole process over the same file, page cache warm, the
contenders alternating run after run, timed by wall clock and by CPU:

  libauparse       c/auparse_walk.c: every event, record and field (name + raw value)
  replay null      `godo replay --store null FILE`: read, parse, assemble, cook, track,
                   the run's figures; no database (documents are made by a store as it
                   encodes them, so none are made here)
  replay jsonl     `godo replay --jsonl FILE > /dev/null`: the cooked events as JSON lines

and, in one process each, by CPU time, the stages of the same file: parse -> cook
(the compiled Pipeline), the tracker on its activities, and the documents the
tracker's mutations make (what a store would encode).

Targets, as the median over the runs of libauparse's time over godo's in the same
run (by wall clock and by CPU alike): replay null >= 2x, replay jsonl >= 1.2x. The
file is the corpus less the events libauparse can never complete, as in offline.py.
`--busy` keeps one CPU busy with an unrelated process (`yes`) all along, as the
targets are meant: on a machine where something else runs.
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

from _common import (DATA_DIR, build, busy_neighbour, godo_command, machine_load, median,
                     run_cpu, verdict)
from offline import bench_input, warm

NULL_TARGET = 2.0
JSONL_TARGET = 1.2
STARTUP_TARGET = 0.08  # CPU seconds of `godo --version` and of a replay of an empty log


def stages(path: str) -> dict:
    """CPU seconds of each stage, in this process (run with --stages)."""
    from godo.run.wiring import Run
    from godo.source.logfile import LogSource
    from godo.store.base import NullStore, document_of
    from godo.tracker import Scope

    class Keeping(NullStore):
        def write(self, mutations, *, dense=False):
            super().write(mutations, dense=dense)
            kept.extend(mutations)

    kept: list = []
    run = Run(Keeping("bench"), "replay", Scope("host"), host="bench", boot="bench")
    pipeline, tracker = run.pipeline, run.tracker  # timed apart: what Run.feed_log does
    hotpath = tracking = 0.0
    for chunk in LogSource(path).chunks():
        start = time.process_time()
        batch = pipeline.feed_log(chunk, "corpus")
        middle = time.process_time()
        tracker.process(batch)
        tracking += time.process_time() - middle
        hotpath += middle - start
    start = time.process_time()
    run.finish()  # the pipeline's last events, and every document still open
    tracking += time.process_time() - start
    activities = run.report.tracker["activities"]
    start = time.process_time()
    for _name, doc in kept:
        document_of(doc)
    documents = time.process_time() - start
    return {"records": pipeline.records, "activities": activities,
            "mutations": len(kept), "hotpath": hotpath, "tracker": tracking, "documents": documents}


def startup(godo: list[str], env: dict, empty: Path, runs: int) -> bool:
    """CPU seconds of whole processes that do next to nothing, interleaved, median of
    `runs`: what every `godo` command pays before its own work."""
    contenders = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "godo --version": [*godo, "--version"],
        "replay (empty log)": [*godo, "replay", "--store", "null", str(empty)],
    }
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, cmd in contenders.items():
            cpu[name].append(run_cpu(cmd, env=env)[1])
    print(f"start-up, CPU s of the whole process, median of {runs} (min):")
    ok = True
    for name, samples in cpu.items():
        judged = name != "python -c pass"
        passed = median(samples) <= STARTUP_TARGET
        ok = ok and (passed or not judged)
        tail = f"  (target <= {STARTUP_TARGET})  {verdict(passed)}" if judged else ""
        print(f"  {name:<20} {median(samples):6.3f} ({min(samples):.3f}){tail}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DATA_DIR / "corpus.log"))
    parser.add_argument("--runs", type=int, default=3,
                        help="alternating runs of each contender (median of the ratios)")
    parser.add_argument("--startup-runs", type=int, default=11,
                        help="runs of each start-up contender (median)")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up figures")
    parser.add_argument("--busy", action="store_true",
                        help="keep one CPU busy with an unrelated process (`yes`) throughout")
    parser.add_argument("--stages", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages:
        print(json.dumps(stages(args.stages)))
        return 0
    corpus = Path(args.corpus)
    if not args.startup_only and not corpus.exists():
        print(f"no corpus at {corpus}: record one with benchmarks/record_corpus.py", file=sys.stderr)
        return 2
    godo = godo_command()
    print(machine_load())
    with tempfile.TemporaryDirectory(prefix="godo-replay-bench-") as tmp, \
            busy_neighbour(args.busy) as neighbour:
        if neighbour:
            print(f"one CPU kept busy by `yes` (pid {neighbour.pid}) throughout")
        env = dict(os.environ, GODO_DATA_DIR=str(Path(tmp) / "data"))
        env.pop("GODO_CONFIG", None)
        empty = Path(tmp) / "empty.log"
        empty.write_bytes(b"")
        started = startup(godo, env, empty, args.startup_runs)
        if args.startup_only:
            print(machine_load(before=False))
            return 0 if started else 1
        path, note = bench_input(corpus)
        walker = build("auparse_walk", Path(tmp), ("auparse",))
        contenders = {
            "libauparse": [str(walker), str(path)],
            "replay null": [*godo, "replay", "--store", "null", str(path)],
            "replay jsonl": [*godo, "replay", "--jsonl", str(path)],
        }
        warm(path)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for run in range(1, args.runs + 1):
            for name, cmd in contenders.items():
                times[name].append(run_cpu(cmd, env=env))
                wall, cpu = times[name][-1]
                print(f"run {run} {name:<13} {wall:6.3f} s wall {cpu:6.3f} s CPU")
        done = subprocess.run([sys.executable, __file__, "--stages", str(path)],
                              capture_output=True, text=True, check=True)
        stage = json.loads(done.stdout)
    print(machine_load(before=False))
    records = stage["records"]
    print(f"\n{path} ({records:,} records; {note})\n")
    print(f"{'contender':<14} {'median wall s':>14} {'median CPU s':>13} {'records/s (CPU)':>16}")
    for name, samples in times.items():
        cpu = median([c for _w, c in samples])
        print(f"{name:<14} {median([w for w, _c in samples]):14.3f} {cpu:13.3f} {records / cpu:16,.0f}")
    print(f"\nstages, CPU s in one process: parse->cook {stage['hotpath']:.3f}   tracker "
          f"{stage['tracker']:.3f} ({stage['activities']:,} activities)   documents "
          f"{stage['documents']:.3f} ({stage['mutations']:,}, made by a store as it encodes)")

    def ratio(name: str, which: int) -> float:
        """The median over the alternating runs of libauparse's time over godo's."""
        return median([a[which] / g[which] for a, g in zip(times["libauparse"], times[name])])

    ok = started
    print(f"\nratios: libauparse's time over godo's, median of {args.runs} alternating pairs")
    for name, target in (("replay null", NULL_TARGET), ("replay jsonl", JSONL_TARGET)):
        wall, cpu = ratio(name, 0), ratio(name, 1)
        passed = wall >= target and cpu >= target
        ok = ok and passed
        print(f"{name:<13} / libauparse  wall {wall:5.2f}x  CPU {cpu:5.2f}x  (target >= {target}x)  "
              f"{verdict(passed)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
