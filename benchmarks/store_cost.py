"""Where a document's cost goes in the embedded FerretDB: its CPU per document for
an insert, a replace-upsert and a `$set` update, with each of godo's indexes alone,
with none, with all of them, and with the SQLite settings godo gives it and
FerretDB's own.

    .venv/bin/python benchmarks/store_cost.py        # --docs 4000 --only files
    .venv/bin/python benchmarks/store_cost.py --settings --before OTHER_FERRETDB  # the insert, per server setting

For each setting a FerretDB of its own (fresh SQLite directory); for each index
set a fresh collection, then, timed by the server's own CPU seconds (/proc):

  insert   `insert_many(ordered=False)`, 1,000 documents a call (godo's batch)
  replace  the same documents again, `ReplaceOne(upsert=True)`, 40 a bulk call
           (godo's cap on FerretDB: an update command holds a pooled connection
           per statement)
  $set     `UpdateOne({_id}, {$set: {writes, bytes, last_write}})`, 40 a call:
           what changes when a file or a process changes
  upsert   `UpdateOne({_id}, {$set: whole document}, upsert=True)` on documents
           not there yet, 40 a call: an insert made as an update

The documents are made by godo's own model (`godo.tracker.model`), shaped as a
build's files and processes are (as `query_store.py` makes them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import cpu_seconds, machine_load

from godo.store.ferret import SQLITE_PRAGMAS, EmbeddedFerret
from godo.store.schema import INDEXES

HOST, BOOT = "bench-host", "0123456789abcdef0123456789abcdef"
T0 = 1_796_000_000.0
UPDATE_BATCH = 40


def documents(count: int, kind: str, salt: str) -> list[dict]:
    """`count` documents of the kind, as godo's model makes them."""
    from godo.tracker.model import Context, OpenFile, Process
    ctx = Context(HOST, BOOT, f"{HOST}:20261130T000000:{salt}")
    out = []
    procs = max(1, count // 10) if kind == "files" else count
    for p in range(procs):
        start = T0 + p * 0.05
        proc = Process(f"{HOST}:{BOOT[:8]}:{1000 + p}:{int(start * 1000)}:{salt}", 1000 + p, 1, None,
                       start, ctx)
        proc.exe, proc.comm = "/usr/bin/gcc", "gcc"
        proc.argv, proc.cwd = ["gcc", "-O2", "-c", f"src/file{p}.c"], "/home/user/project"
        proc.uid = proc.auid = proc.euid = proc.suid = proc.gid = proc.egid = 1000
        proc.execs = [{"time": start, "exe": proc.exe, "argv": proc.argv, "cwd": proc.cwd}]
        proc.exit_time, proc.exit_code, proc.status = start + 0.04, 0, "exited"
        if kind == "processes":
            out.append(proc.document())
            continue
        for f in range(10):
            if len(out) >= count:
                break
            written = f >= 8
            path = f"/home/user/project/build/file{p}.o" if written else f"/usr/include/h{f}.h"
            of = OpenFile(f, proc, 3 + f, path, 0o1101 if written else 0, 0o644, start + f * 0.003,
                          written, False)
            of.closed = of.opened + 0.002
            if written:
                of.writes, of.bytes = 4, 4096
                of.first_write, of.last_write = of.opened + 0.0005, of.opened + 0.0015
            out.append(of.seal().document())
    return out[:count]


def index_sets(kind: str, only_all: bool) -> list[tuple[str, list]]:
    keys = INDEXES[kind]
    sets = [("none", []), (f"all {len(keys)} godo creates", keys)]
    if not only_all:
        sets[1:1] = [("{" + ", ".join(k for k, _ in key) + "}", [key]) for key in keys]
    # What the indexes a fleet's --host queries need add: all, with and without them.
    unled = [key for key in keys if key[0][0] != "host"]
    if len(unled) < len(keys):
        sets.append((f"all but the host-led ({len(unled)})", unled))
    return sets


def measure(ferret: EmbeddedFerret, db, kind: str, name: str, keys: list, count: int,
            salt: str) -> dict[str, float]:
    """Server CPU µs per document for each write, on a fresh collection."""
    from pymongo import IndexModel, ReplaceOne, UpdateOne
    coll = db[f"{kind}_{salt}"]
    coll.drop()
    db.create_collection(coll.name)
    for key in keys:
        coll.create_indexes([IndexModel(key)])
    docs = documents(count, kind, salt)
    fresh = documents(count, kind, salt + "u")
    out = {}

    def timed(label, calls):
        cpu0, wall0 = cpu_seconds(ferret.pid), time.perf_counter()
        for call in calls:
            call()
        out[label] = (cpu_seconds(ferret.pid) - cpu0) / count * 1e6
        out[label + " wall"] = (time.perf_counter() - wall0) / count * 1e6

    def chunks(items, n):
        return [items[i:i + n] for i in range(0, len(items), n)]

    timed("insert", [lambda b=b: coll.insert_many(b, ordered=False) for b in chunks(docs, 1000)])
    timed("replace", [lambda b=b: coll.bulk_write(
        [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in b], ordered=False)
        for b in chunks(docs, UPDATE_BATCH)])
    change = {"writes": 5, "bytes": 5000, "last_write": None} if kind == "files" else \
        {"status": "exited", "exit_code": 1, "exit_time": None}
    timed("$set", [lambda b=b: coll.bulk_write(
        [UpdateOne({"_id": d["_id"]}, {"$set": change}) for d in b], ordered=False)
        for b in chunks(docs, UPDATE_BATCH)])
    timed("upsert", [lambda b=b: coll.bulk_write(
        [UpdateOne({"_id": d["_id"]}, {"$set": {k: v for k, v in d.items() if k != "_id"}},
                   upsert=True) for d in b], ordered=False)
        for b in chunks(fresh, UPDATE_BATCH)])
    assert coll.count_documents({}) == 2 * count, coll.count_documents({})
    coll.drop()
    return out


def insert_cost(docs: list[dict], **options) -> float:
    """Server CPU µs per file document inserted, 1,000 a call, into a fresh
    collection with godo's indexes, by a FerretDB of its own started with `options`."""
    import pymongo
    from pymongo import IndexModel
    with tempfile.TemporaryDirectory(prefix="godo-store-cost-") as tmp, \
            EmbeddedFerret(Path(tmp), nice=0, **options) as ferret:
        client = pymongo.MongoClient(ferret.uri)
        coll = client["cost"]["files"]
        for key in INDEXES["files"]:
            coll.create_indexes([IndexModel(key)])
        cpu0 = cpu_seconds(ferret.pid)
        for i in range(0, len(docs), 1000):
            coll.insert_many(docs[i:i + 1000], ordered=False)
        cpu = cpu_seconds(ferret.pid) - cpu0
        assert coll.estimated_document_count() == len(docs)
        client.close()
    return cpu / len(docs) * 1e6


def compare_settings(count: int, before: str | None, repeat: int) -> int:
    """The insert's cost per FerretDB setting, the settings interleaved round by round
    (the machine's load drifts): godo's, each of its settings back at FerretDB's
    default, and a build given by --before (with FerretDB's defaults: main's server)."""
    from godo.store.ferret import GO_GC_PERCENT, INSERT_BATCH
    variants = [(f"godo's (batch {INSERT_BATCH}, GOGC {GO_GC_PERCENT})", {}),
                ("insert batch 100 (FerretDB's)", {"insert_batch": 100}),
                ("GOGC 100 (Go's)", {"gc_percent": "100"}),
                ("both FerretDB's", {"insert_batch": 100, "gc_percent": "100"})]
    if before:
        variants.append((f"{before} (FerretDB's settings)",
                         {"binary": before, "insert_batch": 100, "gc_percent": "100"}))
    print(machine_load())
    docs = documents(count, "files", "settings")
    got: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(repeat):
        for label, options in variants:
            got[label].append(insert_cost(docs, **options))
            print(f"  {label:<60} {got[label][-1]:6.0f}", flush=True)
    print(machine_load(before=False))
    print(f"\nFerretDB CPU µs per file document inserted with godo's {len(INDEXES['files'])} "
          f"indexes ({count:,} documents, 1,000 a call; median of {repeat}, min in brackets)\n")
    print("| FerretDB | insert |\n|---|---|")
    for label, values in got.items():
        print(f"| {label} | {sorted(values)[len(values) // 2]:.0f} ({min(values):.0f}) |")
    return 0


def main(argv: list[str] | None = None) -> int:
    import pymongo
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=4000, help="documents per measure")
    parser.add_argument("--only", choices=("files", "processes"))
    parser.add_argument("--settings", action="store_true",
                        help="only the insert of files with godo's indexes, per server setting")
    parser.add_argument("--before", metavar="BINARY",
                        help="with --settings: a FerretDB build to compare with (main's)")
    parser.add_argument("--repeat", type=int, default=3, help="with --settings: rounds")
    args = parser.parse_args(argv)
    if args.settings:
        return compare_settings(args.docs, args.before, args.repeat)
    print(machine_load())
    settings = [(f"godo's ({', '.join(SQLITE_PRAGMAS)})", SQLITE_PRAGMAS),
                ("FerretDB's defaults (synchronous full)", ())]
    rows = []
    for label, pragmas in settings:
        with tempfile.TemporaryDirectory(prefix="godo-store-cost-") as tmp, \
                EmbeddedFerret(Path(tmp), nice=0, sqlite_pragmas=pragmas) as ferret:
            client = pymongo.MongoClient(ferret.uri)
            db = client["cost"]
            for kind in ("files", "processes"):
                if args.only and kind != args.only:
                    continue
                # The per-index table under godo's settings; the totals under both.
                for i, (name, keys) in enumerate(index_sets(kind, only_all=not pragmas)):
                    got = measure(ferret, db, kind, name, keys, args.docs, f"s{len(rows)}")
                    rows.append((label, kind, name, got))
                    print(f"  {label[:24]:<24} {kind:<9} {name:<28} " + "  ".join(
                        f"{w} {got[w]:6.0f}" for w in ("insert", "replace", "$set", "upsert")),
                        flush=True)
            client.close()
    print(machine_load(before=False))
    print(f"\nFerretDB CPU µs per document ({args.docs:,} documents a measure; wall µs in "
          "brackets)\n")
    print("| SQLite | collection | indexes | insert | replace-upsert | `$set` | upsert new |")
    print("|---|---|---|---|---|---|---|")
    for label, kind, name, got in rows:
        print(f"| {label} | {kind} | {name} | " + " | ".join(
            f"{got[w]:.0f} ({got[w + ' wall']:.0f})" for w in ("insert", "replace", "$set", "upsert"))
            + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
