"""Offline benchmark: parse -> assemble -> cook over a recorded corpus, side by
side with libauparse and a naive parser, in one run.

    .venv/bin/python benchmarks/offline.py [--corpus benchmarks/data/corpus.log] [--runs 3]

Contenders, all over the same file, page cache warm, best of --runs, each run in
a fresh process so none inherits another's heap:
  libauparse     c/auparse_walk.c: every event, record and field (name + raw value)
  godo compiled  godo.hotpath._hotpath_c.Pipeline: feed_log() over 1 MiB chunks, flush()
  godo pure      godo.hotpath._pipeline_py.Pipeline, the same calls
  naive split    naive_parser.py: each line split into a key=value dict

Targets: compiled >= 3x libauparse records/s; pure >= 1x naive.

The file all four read is the corpus less the events libauparse can never
complete (see `complete_events_only`); libauparse is also timed once on the
corpus as recorded, and both figures are printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, HERE, best, build, busy_neighbour, machine_load, verdict

from godo.vocab.records import type_number

CHUNK = 1 << 20
COMPILED_TARGET = 3.0
PURE_TARGET = 1.0

# libauparse (3.0.x, auparse.c au_check_events) ends an event of a log without
# EOE when its last record is PROCTITLE or EOE, or is a one-record type (below
# 1300, 1700 and up); any other event waits until a record 2 s of audit time
# later. It hands out events in order, so while one waits every later event
# piles up in its list, and that list's high-water mark is scanned for every
# record from then on. A lone CONFIG_CHANGE (1305, a rule added or removed, as
# every recording starts and ends with) is such an event: on a dense corpus it
# makes libauparse ~30x slower for the rest of the file. That is libauparse's
# real behaviour, but a 3x target against it would prove nothing, so the
# contest is run on the corpus without those events.
_PROCTITLE, _EOE = 1327, 1320


def _waits_for_timeout(rtype: int) -> bool:
    return 1300 <= rtype < 1700 and rtype not in (_PROCTITLE, _EOE)


def _serial_and_type(line: bytes) -> tuple[bytes, int] | None:
    """`type=NAME msg=audit(SEC.MS:SERIAL): ...` -> (SERIAL, type number)."""
    space = line.find(b" ")
    opened = line.find(b"audit(", space)
    colon = line.find(b":", opened) if opened > 0 else -1
    close = line.find(b")", colon) if colon > 0 else -1
    if space < 5 or close < 0:
        return None
    return line[colon + 1:close], type_number(line[5:space])


def complete_events_only(corpus: Path, out: Path) -> tuple[int, int]:
    """Write `corpus` to `out` less the events whose last record would make
    libauparse wait for its 2 s time-out. Returns (records, events) dropped."""
    last: dict[bytes, int] = {}
    with open(corpus, "rb") as f:
        for line in f:
            found = _serial_and_type(line)
            if found:
                last[found[0]] = found[1]
    stuck = {serial for serial, rtype in last.items() if _waits_for_timeout(rtype)}
    dropped = 0
    tmp = out.with_suffix(".tmp")
    with open(corpus, "rb") as f, open(tmp, "wb") as w:
        for line in f:
            found = _serial_and_type(line)
            if found and found[0] in stuck:
                dropped += 1
                continue
            w.write(line)
    os.replace(tmp, out)
    return dropped, len(stuck)


def bench_input(corpus: Path) -> tuple[Path, str]:
    """The file every contender reads, made once per corpus (and cached)."""
    out = DATA_DIR / f"{corpus.stem}.complete{corpus.suffix}"
    note_file = out.with_suffix(".note")
    if out.exists() and note_file.exists() and out.stat().st_mtime >= corpus.stat().st_mtime:
        return out, note_file.read_text()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    records, events = complete_events_only(corpus, out)
    note = (f"{records} record(s) of {events} event(s) libauparse cannot complete without its "
            f"2 s time-out left out (lone CONFIG_CHANGE: the recorder's own rule changes)")
    note_file.write_text(note)
    return out, note


# -- one measurement, in its own process ------------------------------------------------

def measure_pipeline(module: str, path: str) -> dict:
    Pipeline = importlib.import_module(module).Pipeline
    pipeline = Pipeline()
    name = os.path.basename(path)
    activities = 0
    start = time.perf_counter()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            activities += len(pipeline.feed_log(chunk, name))
    activities += len(pipeline.flush())
    seconds = time.perf_counter() - start
    return {"records": pipeline.records, "events": pipeline.events, "activities": activities,
            "malformed": pipeline.malformed, "seconds": seconds}


def measure_naive(path: str) -> dict:
    from naive_parser import parse_file
    start = time.perf_counter()
    records = parse_file(path)
    return {"records": records, "seconds": time.perf_counter() - start}


def worker(kind: str, path: str) -> int:
    if kind == "naive":
        result = measure_naive(path)
    else:
        result = measure_pipeline({"compiled": "godo.hotpath._hotpath_c", "pure": "godo.hotpath._pipeline_py"}[kind], path)
    print(json.dumps(result))
    return 0


def run_worker(kind: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", kind, str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_auparse(binary: Path, path: Path) -> dict:
    done = subprocess.run([str(binary), str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"auparse_walk failed: {done.stderr.strip()}")
    words = done.stdout.split()
    value = lambda key: words[words.index(key) + 1]  # noqa: E731
    return {"records": int(value("records")), "events": int(value("events")),
            "fields": int(value("fields")), "seconds": float(value("seconds"))}


def compiled_available() -> str | None:
    """None if the compiled twin imports, else why not."""
    done = subprocess.run([sys.executable, "-c", "import godo.hotpath._hotpath_c"], capture_output=True,
                          text=True, cwd=HERE.parent)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# -- the run ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DATA_DIR / "corpus.log"))
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs each (default 3)")
    parser.add_argument("--skip-as-recorded", action="store_true",
                        help="do not time libauparse on the corpus as recorded (slow)")
    parser.add_argument("--busy", action="store_true",
                        help="keep one CPU busy with an unrelated process (`yes`) throughout")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        return worker(*args.measure)

    corpus = Path(args.corpus).resolve()
    if not corpus.exists():
        print(f"no corpus at {corpus}: record one with `sudo .venv/bin/python "
              f"benchmarks/record_corpus.py`", file=sys.stderr)
        return 2
    path, note = bench_input(corpus)
    size = path.stat().st_size
    missing = compiled_available()
    kinds = ["libauparse", "compiled", "pure", "naive"]
    if missing:
        print(f"godo compiled: compiled twin not built ({missing})")
        kinds.remove("compiled")

    results: dict[str, list[dict]] = {k: [] for k in kinds}
    print(f"before: {machine_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="godo-offline-") as tmp, \
            busy_neighbour(args.busy) as neighbour:
        if neighbour:
            print(f"one CPU kept busy by `yes` (pid {neighbour.pid}) throughout", flush=True)
        walker = build("auparse_walk", Path(tmp), libs=("auparse",))
        warm(path)
        # Interleaved, so a drift in the machine's speed hits every contender alike.
        for run in range(args.runs):
            for kind in kinds:
                r = run_auparse(walker, path) if kind == "libauparse" else run_worker(kind, path)
                results[kind].append(r)
                print(f"run {run + 1} {kind:<11} {r['records'] / r['seconds']:>12,.0f} records/s "
                      f"({r['seconds']:.3f} s)", flush=True)
        as_recorded = None
        if not args.skip_as_recorded and path != corpus:
            warm(corpus)
            as_recorded = run_auparse(walker, corpus)

    print(f"after:  {machine_load(before=False)}")
    rates = {k: best([r["records"] / r["seconds"] for r in runs]) for k, runs in results.items()}
    records = results["libauparse"][0]["records"]
    print(f"\ncorpus {corpus} ({records:,} records read by libauparse, {size / 1e6:.1f} MB as read)")
    print(f"  {note}")
    names = {"libauparse": "libauparse (C, every field)", "compiled": "godo compiled",
             "pure": "godo pure-Python", "naive": "naive str.split"}
    print(f"\n{'contender':<30} {'records/s':>12}  {'records':>9}  best of {args.runs}")
    for kind, runs in results.items():
        extra = ""
        if "activities" in runs[0]:
            extra = f"  events {runs[0]['events']:,} activities {runs[0]['activities']:,}"
            if runs[0]["malformed"]:
                extra += f" malformed {runs[0]['malformed']:,}"
        print(f"{names[kind]:<30} {rates[kind]:>12,.0f}  {runs[0]['records']:>9,}{extra}")
        if runs[0]["records"] != records:
            print(f"  note: {kind} counted {runs[0]['records']:,} records, libauparse {records:,}")
    if as_recorded:
        print(f"\nlibauparse on the corpus as recorded: {as_recorded['records'] / as_recorded['seconds']:,.0f} "
              "records/s (held up by lone CONFIG_CHANGE events; see offline.py)")

    ok = True
    print()
    if "compiled" in rates:
        ratio = rates["compiled"] / rates["libauparse"]
        ok &= ratio >= COMPILED_TARGET
        print(f"godo compiled / libauparse   {ratio:6.2f}x  (target >= {COMPILED_TARGET:g}x)  "
              f"{verdict(ratio >= COMPILED_TARGET)}")
    else:
        ok = False
        print(f"godo compiled / libauparse       -    (target >= {COMPILED_TARGET:g}x)  FAIL: compiled twin not built")
    ratio = rates["pure"] / rates["naive"]
    ok &= ratio >= PURE_TARGET
    print(f"godo pure / naive split      {ratio:6.2f}x  (target >= {PURE_TARGET:g}x)  "
          f"{verdict(ratio >= PURE_TARGET)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
