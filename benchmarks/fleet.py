"""Many hosts, one store: godo replays into a replicated PostgreSQL (a primary and a
synchronous hot standby on loopback, tests/support/pgcluster.py), each "host"
through its own FerretDB front-end (`--postgresql URL`), beside the embedded SQLite
store on the same data; and the catch-up after a promotion.

    .venv/bin/python benchmarks/fleet.py              # --processes 5000 --hosts 1,2,4

Each host replays a generated log of N processes with one file each (2N+1
documents: the issue's 20,000 processes are 40,002 documents) with `--host hN`.
Printed:

  throughput   per round of 1, 2, 4 hosts at once: documents expected and stored
               per host, and documents a second in all (the wall time of the round,
               godo's start and its front-end's included), PostgreSQL then SQLite
               (all the round's hosts into one embedded FerretDB: one data directory)
  catch-up     one host, its log fed through a FIFO in two halves. `up`: the second
               half written with the database up, timed from its feed to godo's
               exit. `promoted`: the primary killed before the second half, which
               godo keeps in its spill journal; the standby promoted once the half
               is read; timed from the promotion to godo's exit. Target: promoted
               within 2x of up.

FerretDB v1.24.2's PostgreSQL backend finds a document by `_jsonb->'_id' @> $1`,
which no index serves unless godo's build of FerretDB patches it: the catch-up (a
replace by _id per document) is where that shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pymongo
from _common import godo_command, machine_load

from support.genlog import FIRST_CHILD, write_log
from support.pgcluster import PgCluster

GODO = godo_command()


def _env(data: Path, url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GODO_MONGO_URI", "GODO_CONFIG", "GODO_POSTGRESQL_URL")}
    env["GODO_DATA_DIR"] = str(data)
    if url:
        env["GODO_POSTGRESQL_URL"] = url
    return env


def _replay(log: Path, host: str, data: Path, url: str | None, **kw) -> subprocess.Popen:
    return subprocess.Popen(GODO + ["replay", "--host", host, str(log)], env=_env(data, url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


def _check(proc: subprocess.Popen, what: str) -> None:
    _out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"fleet.py: {what}: godo exited {proc.returncode}: {err.strip()[-400:]}")


def _stored(uri: str, host: str) -> int:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=30_000) as client:
        db = client.godo
        return (db.files.count_documents({"host": host})
                + db.processes.count_documents({"host": host}))


def _round(logs: list[Path], tag: str, scratch: Path, url: str | None) -> tuple[float, list[str]]:
    """All hosts at once; (seconds, their names). PostgreSQL: a data directory (a
    front-end) per host; SQLite: one data directory for all."""
    names = [f"{tag}{i + 1}" for i in range(len(logs))]
    shared = scratch / f"{tag}-data"
    start = time.monotonic()
    procs = [_replay(log, name, scratch / f"{name}-data" if url else shared, url)
             for log, name in zip(logs, names)]
    for proc, name in zip(procs, names):
        _check(proc, name)
    return time.monotonic() - start, names


def throughput(cluster: PgCluster, reader: str, logs: list[Path], expected: int,
               counts: list[int], scratch: Path) -> None:
    print(f"{'hosts':>5}  {'store':<10} {'expected/stored per host':<48} {'docs/s':>8}")
    for n in counts:
        for store in ("postgresql", "sqlite"):
            url = cluster.url(password=True) if store == "postgresql" else None
            tag = f"{store[0]}{n}h"
            seconds, names = _round(logs[:n], tag, scratch, url)
            uri = reader if url else _embedded_uri(scratch / f"{tag}-data")
            stored = [_stored(uri, name) for name in names]
            per_host = " ".join(f"{expected}/{s}" for s in stored)
            print(f"{n:>5}  {store:<10} {per_host:<48} {n * expected / seconds:>8.0f}", flush=True)


def _embedded_uri(data: Path) -> str:
    from godo.store.ferret import connect_or_start
    ferret = connect_or_start(data)
    _HELD.append(ferret)
    return ferret.uri


_HELD: list = []


class _Fed:
    """A replay of a FIFO fed in two halves."""

    def __init__(self, halves: list[Path], host: str, data: Path, url: str, fifo: Path):
        os.mkfifo(fifo)
        self.proc = _replay(fifo, host, data, url)
        self.second, self.close, self.fed = threading.Event(), threading.Event(), threading.Event()
        threading.Thread(target=self._feed, args=(halves, fifo), daemon=True).start()

    def _feed(self, halves, fifo) -> None:
        with open(fifo, "wb") as out:
            out.write(halves[0].read_bytes())
            out.flush()
            self.second.wait()
            out.write(halves[1].read_bytes())
            out.flush()
            self.fed.set()
            self.close.wait()


def catch_up(processes: int, scratch: Path) -> None:
    half = max(1, processes // 2)
    halves = [scratch / "half-a.log", scratch / "half-b.log"]
    write_log(halves[0], half, 1, first=0)
    write_log(halves[1], half, 1, first=half)
    results = {}
    for mode in ("up", "promoted"):
        with PgCluster() as cluster:
            _seed(cluster, scratch / f"seed-{mode}")
            fe = cluster.front_end()
            fed = _Fed(halves, "c1", scratch / f"catch-{mode}", cluster.url(password=True),
                       scratch / f"fifo-{mode}")
            deadline = time.monotonic() + 600
            while _files(fe.uri) < half // 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            if mode == "promoted":
                cluster.kill_primary()
            start = time.monotonic()
            fed.second.set()
            fed.fed.wait()
            if mode == "promoted":
                time.sleep(2.0)  # the half read, and in the journal
                cluster.promote()
                start = time.monotonic()
            fed.close.set()
            _check(fed.proc, f"catch-up ({mode})")
            results[mode] = time.monotonic() - start
            stored = _files(fe.uri) + _procs(fe.uri)
            print(f"catch-up {mode:<9} {4 * half} expected / {stored} stored  "
                  f"{results[mode]:7.1f} s", flush=True)
    ratio = results["promoted"] / results["up"]
    print(f"catch-up promoted/up: {ratio:.2f}x  (target within 2x: {'PASS' if ratio <= 2 else 'FAIL'})")


def _files(uri: str) -> int:
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5_000) as client:
            return client.godo.files.count_documents({"host": "c1"})
    except pymongo.errors.PyMongoError:
        return 0


def _procs(uri: str) -> int:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=30_000) as client:
        return client.godo.processes.count_documents({"host": "c1", "pid": {"$gte": FIRST_CHILD}})


def _seed(cluster: PgCluster, data: Path) -> None:
    """godo's schema made by one godo first: v1.24.2's PostgreSQL backend fails a
    front-end racing another to create a table (SQLSTATE 42P07)."""
    data.mkdir()
    write_log(data / "seed.log", 1, 1, first=10**6)
    _check(_replay(data / "seed.log", "seed", data / "data", cluster.url(password=True)), "seed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=5000, help="per host (documents: 2N+1)")
    parser.add_argument("--hosts", default="1,2,4", help="hosts at once, per round")
    parser.add_argument("--no-catch-up", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    print(machine_load())
    # Short: FerretDB's socket path lives under it.
    scratch = Path(tempfile.mkdtemp(prefix="fleet-b-"))
    try:
        logs = []
        for i in range(0 if args.no_throughput else max(counts)):
            logs.append(scratch / f"h{i + 1}.log")
            write_log(logs[-1], args.processes, 1)
        expected = 2 * args.processes + 1
        print(f"{args.processes} processes a host: {expected} documents a host")
        if not args.no_throughput:
            with PgCluster() as cluster:
                _seed(cluster, scratch / "seed")
                reader = cluster.front_end().uri
                throughput(cluster, reader, logs, expected, counts, scratch)
        for ferret in _HELD:
            ferret.stop()
        if not args.no_catch_up:
            catch_up(args.processes, scratch)
    finally:
        for ferret in _HELD:
            ferret.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(machine_load(before=False))


if __name__ == "__main__":
    main()
