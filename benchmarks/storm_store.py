"""Storm into the store: does godo lose anything, in the kernel or inside itself,
while it records an open/write/close storm into its embedded FerretDB?

`godo record -- storm N` with every setting at its default (backlog 65536,
backlog_wait_time 0, the embedded FerretDB in a fresh data directory, the spill
journal beside it). The storm (c/storm.c) opens /dev/null, writes a byte and
closes it N times: N file documents for the database, each one written once.

Printed, and checked:
  kernel lost     the kernel's `lost` delta over the run (from the run document)
  godo-internal   the run document's `godo_lost`: datagrams received less records
  loss            parsed and malformed, activities cooked less applied, document
                  writes queued less acknowledged and waiting, and writes dropped
  file documents  the database's own count of the storm's /dev/null documents with
                  one write of one byte, against N: the end-to-end figure
Beside them: the storm's rate, how much went through the spill journal, and how
long godo took after the storm to get everything into the database.

With --journal it measures the spill journal alone (append, then read back and
release, of file documents in batches of 100), no kernel and no root needed.

Run as root:  .venv/bin/python benchmarks/storm_store.py [--iterations 100000] [--repeat 1]
It takes /run/lock/godo-live.lock; godo itself puts the kernel's audit state back.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import build, godo_command, live_lock, machine_load, verdict


def run_storm(godo: list[str], storm: Path, iterations: int, workdir: Path) -> dict:
    data = workdir / "godo-data"
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_MONGO_URI", "GODO_CONFIG")}
    env["GODO_DATA_DIR"] = str(data)
    out_file = workdir / "storm.out"
    began = time.monotonic()
    done = subprocess.run([*godo, "record", "--", "sh", "-c", f"{storm} {iterations} > {out_file}"],
                          env=env, capture_output=True, text=True)
    wall = time.monotonic() - began
    storm_out = out_file.read_text() if out_file.exists() else ""
    print(done.stderr.strip(), flush=True)
    if done.returncode != 0 or "rate" not in storm_out:
        raise SystemExit(f"godo record failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    words = storm_out.split()
    rate = float(words[words.index("rate") + 1])
    storm_seconds = float(words[words.index("seconds") + 1])

    from godo.store import database
    with database(None, data, timeout=30.0) as db:
        run = db.runs.find_one({"mode": "unicast"}, sort=[("started", -1)])
        storm_proc = db.processes.find_one({"run": run["_id"], "exe": str(storm)})
        # One scan, counted here: FerretDB 1.x filters most of a query in Go, not SQLite.
        ids, files, whole = set(), 0, 0
        for doc in db.files.find({"run": run["_id"]}, {"process": 1, "path": 1, "writes": 1,
                                                       "bytes": 1, "status": 1}):
            if doc["process"] == storm_proc["_id"] and doc["path"] == "/dev/null":
                files += 1
                ids.add(doc["_id"])
                whole += (doc["writes"], doc["bytes"], doc["status"]) == (1, 1, "closed")
        distinct = len(ids)
    ended = run["ended"].replace(tzinfo=timezone.utc) if run.get("ended") else None
    return {"rate": rate, "storm_seconds": storm_seconds, "wall": wall, "run": run,
            "files": files, "whole": whole, "distinct": distinct, "ended": ended,
            "summary": done.stderr.strip()}


def report(sample: dict, iterations: int) -> bool:
    run, store = sample["run"], sample["run"]["store"]
    journal = store.get("journal") or {}
    loss = run.get("loss", {})
    print(f"storm            {sample['rate']:>12,.0f} syscalls/s  ({iterations * 3:,} syscalls in "
          f"{sample['storm_seconds']:.2f} s)")
    print(f"records          {run['records']:>12,}  received {run.get('received')}  "
          f"serial gaps {run['serial_gaps']}  malformed {run['malformed']}")
    print(f"kernel lost      {run['kernel_lost']:>12}")
    print(f"godo-internal    {run['godo_lost']:>12}  ({', '.join(f'{k} {v}' for k, v in loss.items())})")
    print(f"file documents   {sample['files']:>12,}  of {iterations:,} expected; {sample['whole']:,} with "
          f"one write of one byte; {sample['distinct']:,} distinct _id")
    print(f"store            submitted {store['submitted']:,}  written {store['written']:,}  coalesced "
          f"{store['coalesced']:,}  rejected {store['rejected']}  pending {store.get('pending')}  "
          f"errors {store['errors']}")
    print(f"spill journal    spilled {store.get('spilled', 0):,} mutations in {store.get('spills', 0)} "
          f"spill(s) + {journal.get('appended_records', 0):,} records ({journal.get('appended_bytes', 0) / 1e6:.1f} MB), "
          f"read back {store.get('replayed', 0):,}; backpressure {store.get('backpressure_waits', 0)} "
          f"wait(s) {store.get('backpressure_seconds', 0)} s; peak backlog {store['backlog_peak']:,}")
    print(f"godo wall time   {sample['wall']:>12.1f} s  (storm {sample['storm_seconds']:.1f} s; the rest "
          f"is the kernel queue drained and every document into FerretDB)")
    expected_ok = sample["files"] == iterations == sample["whole"] == sample["distinct"]
    ok_lost = run["kernel_lost"] == 0
    ok_godo = run["godo_lost"] == 0
    print(f"\nkernel lost 0                       {verdict(ok_lost)}")
    print(f"godo-internal loss 0                {verdict(ok_godo)}")
    print(f"every file document, exactly once   {verdict(expected_ok)}")
    return ok_lost and ok_godo and expected_ok


def journal_throughput(n: int, batch: int = 100) -> None:
    import bson

    from godo.journal import Journal
    now = datetime.now(timezone.utc)
    docs = []
    for i in range(n):
        doc = {"_id": f"host:abcdef12:4242:1700000000000:3:1700000000123:{i}", "host": "host",
               "run": "host:20261127T000000:abcd1234", "process": "host:abcdef12:4242:1700000000000",
               "pid": 4242, "comm": "storm", "exe": "/tmp/storm", "container": None, "fd": 3,
               "path": "/dev/null", "host_path": None, "flags": 32769, "mode": None, "access": "w",
               "opened": now, "closed": now, "status": "closed", "writes": 1, "bytes": 1,
               "first_write": now, "last_write": now, "created": False, "truncated": False,
               "inherited": False, "writers": []}
        docs.append(("files", doc["_id"], doc["_id"], bson.encode(doc)))
    with tempfile.TemporaryDirectory(prefix="godo-journal-") as tmp:
        journal = Journal(Path(tmp) / "j", max_bytes=4 << 30)
        began = time.perf_counter()
        for start in range(0, n, batch):
            journal.append(docs[start:start + batch])
        appended = time.perf_counter() - began
        size = journal.size
        began = time.perf_counter()
        read = 0
        while (record := journal.read()) is not None:
            entries, position = record
            read += len(entries)
            journal.release(position)
        replayed = time.perf_counter() - began
        journal.close()
    print(f"journal append   {n / appended:>12,.0f} mutations/s  {size / appended / 1e6:8.1f} MB/s  "
          f"({n:,} file documents, batches of {batch}, {size / n:.0f} bytes each, fsync once a second)")
    print(f"journal replay   {read / replayed:>12,.0f} mutations/s  {size / replayed / 1e6:8.1f} MB/s  "
          f"(read, checksum, decode, release)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000,
                        help="storm loop iterations, 3 syscalls each (default 100000)")
    parser.add_argument("--repeat", type=int, default=1, help="storm runs (each into a fresh store)")
    parser.add_argument("--journal", type=int, metavar="N", nargs="?", const=200_000,
                        help="measure the spill journal alone with N documents (default 200000)")
    parser.add_argument("--godo", metavar="CMD", help="the godo command to measure")
    args = parser.parse_args(argv)
    if args.journal:
        journal_throughput(args.journal)
        return 0
    if os.geteuid() != 0:
        print("storm_store needs root: godo record changes the kernel's audit settings", file=sys.stderr)
        return 2
    godo = args.godo.split() if args.godo else godo_command()
    ok = True
    with tempfile.TemporaryDirectory(prefix="godo-storm-store-") as tmp:
        workdir = Path(tmp)
        storm = build("storm", workdir)
        with live_lock():
            print(f"before: {machine_load()}", flush=True)
            for i in range(args.repeat):
                run_dir = workdir / f"run{i}"
                run_dir.mkdir()
                sample = run_storm(godo, storm, args.iterations, run_dir)
                print(f"\nrun {i + 1}: godo record -- storm {args.iterations} into the embedded FerretDB "
                      f"(defaults: backlog 65536, wait 0)")
                ok = report(sample, args.iterations) and ok
            print(f"\nafter:  {machine_load(before=False)}")
    journal_throughput(200_000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
