"""Memory and round trips of the tracker and store: replay a synthetic audit.log of
N short-lived processes (default 1,000,000) and print godo's peak RSS and the
database round trips per 1,000 activities.

Targets: peak RSS <= 200 MB into the store (what waits for the database is held),
<= 64 MB with `--store null` (the tracker alone); <= 2 round trips per 1,000
activities. Exited processes and closed files must leave memory once they
are handed to the store.

Each process is what a busy shell loop makes: the shell clones it, it execs
`true N`, creates and writes a file, closes it and exits; pids wrap around every
30,000 processes, so the tracker also sees pid reuse all along.

    .venv/bin/python benchmarks/replay_memory.py [--processes N] [--store null|mongo]

With `--store mongo` godo writes into its embedded FerretDB in a scratch data dir
(or GODO_MONGO_URI); round trips are pymongo's command-monitoring count, which
godo keeps in the run document. The log is built once and cached, gzipped, under
benchmarks/data/.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "data"
SHELL, FIRST_CHILD, PID_SPAN = 100, 1000, 30_000
RSS_TARGET_MB = {"mongo": 200, "null": 64}
ROUND_TRIP_TARGET = 2.0


def _stamp(i: int, serial: int) -> bytes:
    sec = 1_700_000_000 + i // 1000
    return b"audit(%d.%03d:%d): " % (sec, i % 1000, serial)


def _syscall(i, serial, nr, pid, ppid, *, exit=b"0", a=(b"0", b"0", b"0", b"0"), items=0,
             comm=b"sh", exe=b"/usr/bin/dash", returns=True):
    result = b"success=yes exit=%s " % exit if returns else b""
    return (b"type=SYSCALL msg=" + _stamp(i, serial)
            + b"arch=c000003e syscall=%d %sa0=%s a1=%s a2=%s a3=%s items=%d ppid=%d pid=%d "
              b"auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 "
              b"comm=\"%s\" exe=\"%s\" key=\"godo\"\n" % (nr, result, *a, items, ppid, pid, comm, exe))


def _proctitle(i, serial, title=b"7368002D6300666F72"):
    return b"type=PROCTITLE msg=" + _stamp(i, serial) + b"proctitle=" + title + b"\n"


def process_records(i: int, serial: int) -> tuple[bytes, int]:
    """The records of one short-lived process, from its clone to its exit."""
    child = FIRST_CHILD + i % PID_SPAN
    out = []
    out.append(_syscall(i, serial, 56, SHELL, 1, exit=b"%d" % child, a=(b"1200011", b"0", b"0", b"0")))
    out.append(_proctitle(i, serial))
    serial += 1
    out.append(_syscall(i, serial, 59, child, SHELL, items=2, comm=b"true", exe=b"/usr/bin/true"))
    out.append(b"type=EXECVE msg=" + _stamp(i, serial) + b'argc=2 a0="true" a1="%d"\n' % i)
    out.append(b"type=CWD msg=" + _stamp(i, serial) + b'cwd="/work"\n')
    out.append(b"type=PATH msg=" + _stamp(i, serial) + b'item=0 name="/usr/bin/true" inode=1 dev=fe:00 '
               b"mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 "
               b"cap_fver=0 cap_frootid=0\n")
    out.append(_proctitle(i, serial, b"7472756500"))
    serial += 1
    out.append(_syscall(i, serial, 257, child, SHELL, exit=b"3", a=(b"ffffff9c", b"7ffd0000", b"241", b"1b6"),
                        items=2, comm=b"true", exe=b"/usr/bin/true"))
    out.append(b"type=CWD msg=" + _stamp(i, serial) + b'cwd="/work"\n')
    out.append(b"type=PATH msg=" + _stamp(i, serial) + b'item=0 name="/work/out/" inode=2 dev=fe:00 '
               b"mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 "
               b"cap_fver=0 cap_frootid=0\n")
    out.append(b"type=PATH msg=" + _stamp(i, serial) + b'item=1 name="/work/out/%d" inode=3 dev=fe:00 '
               b"mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 "
               b"cap_fver=0 cap_frootid=0\n" % (i % 1000))
    out.append(_proctitle(i, serial, b"7472756500"))
    serial += 1
    for nr, a0, ret in ((1, b"3", b"5"), (3, b"3", b"0")):
        out.append(_syscall(i, serial, nr, child, SHELL, exit=ret, a=(a0, b"0", b"0", b"0"),
                            comm=b"true", exe=b"/usr/bin/true"))
        out.append(_proctitle(i, serial, b"7472756500"))
        serial += 1
    out.append(_syscall(i, serial, 231, child, SHELL, a=(b"0", b"0", b"0", b"0"), comm=b"true",
                        exe=b"/usr/bin/true", returns=False))
    out.append(_proctitle(i, serial, b"7472756500"))
    return b"".join(out), serial + 1


def build_log(processes: int) -> Path:
    path = DATA / f"short-processes-{processes}.log.gz"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    serial = 1
    with gzip.open(partial, "wb", compresslevel=1) as out:
        chunk = []
        for i in range(processes):
            records, serial = process_records(i, serial)
            chunk.append(records)
            if len(chunk) == 2000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    partial.rename(path)
    print(f"built {path} ({path.stat().st_size / 1e6:.0f} MB gzipped) in "
          f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("null", "mongo"), default="mongo")
    args = parser.parse_args()
    log = build_log(args.processes)

    with tempfile.TemporaryDirectory(prefix="godo-memory-") as scratch:
        env = dict(os.environ, GODO_DATA_DIR=scratch)
        command = [sys.executable, "-m", "godo", "replay", "--store", args.store, log]
        started = time.perf_counter()
        # A child of its own, so its peak RSS is its alone (RUSAGE_CHILDREN).
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        run = _run_document(env) if args.store == "mongo" else None

    print(f"replayed {args.processes:,} short-lived processes in {elapsed:.1f}s "
          f"(store {args.store}); godo summary:\n{done.stderr.rstrip()}")
    target = RSS_TARGET_MB[args.store]
    ok = peak_mb <= target
    print(f"peak RSS {peak_mb:.0f} MB (target <= {target} MB): {'PASS' if ok else 'FAIL'}")
    if run is not None:
        trips = run["store"].get("round_trips", 0)
        per_1000 = trips / max(1, run["activities"]) * 1000
        trips_ok = per_1000 <= ROUND_TRIP_TARGET
        ok = ok and trips_ok
        print(f"activities {run['activities']:,}, documents {run['store'].get('written', 0):,}, "
              f"round trips {trips:,} = {per_1000:.2f} per 1,000 activities "
              f"(target <= {ROUND_TRIP_TARGET}): {'PASS' if trips_ok else 'FAIL'}")
    return 0 if ok else 1


def _run_document(env: dict) -> dict:
    """The replay's run document, read back from the same store."""
    code = ("import sys, orjson; from godo.store.opening import database; from godo.paths import data_dir\n"
            "with database(None, data_dir()) as db:\n"
            "    run = db.runs.find_one({'mode': 'replay'}, sort=[('started', -1)])\n"
            "    sys.stdout.buffer.write(orjson.dumps(run, default=str))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    import orjson
    return orjson.loads(out.stdout)


if __name__ == "__main__":
    sys.exit(main())
