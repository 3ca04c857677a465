"""What a replace, an update and a delete by _id cost on FerretDB's PostgreSQL
handler, before and after godo's patches, side by side in one run.

    .venv/bin/python benchmarks/pg_by_id.py --postgresql postgres://USER@HOST:PORT/DB \\
        --before PATH/TO/ferretdb                   # --docs 100000 --ops 20

For each binary (`--before`: one without godo's PostgreSQL patches, such as
FerretDB's own or a godo build before them; after: godo's, as godo finds it) a
front-end on that PostgreSQL gets a collection of `--docs` documents shaped as
godo's processes (string _id), then `--ops` of each operation by a random _id,
one at a time as the writer's upserts come: the milliseconds each took, median
and worst. (Unpatched, each looked its document up with `_jsonb->'_id' @> $1`,
which no index serves: a read of the whole table.)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time

from _common import machine_load

from godo.store.ferret import EmbeddedFerret, find_binary


def _doc(i: int) -> dict:
    return {"_id": f"bench-host:0123abcd:{1000 + i}:{1796000000000 + i}", "pid": 1000 + i,
            "ppid": 1, "exe": "/usr/bin/gcc", "argv": ["gcc", "-O2", "-c", f"src/file{i}.c"],
            "cwd": "/home/user/project", "run": "bench-host:20261130T000000:00000000",
            "start": i, "exit_code": 0, "status": "exited"}


def measure(binary: str, url: str, docs: int, ops: int) -> dict[str, list[float]]:
    """Milliseconds of each operation by _id, on a fresh collection of `docs`."""
    import pymongo
    with tempfile.TemporaryDirectory(prefix="godo-bench-") as root, \
            EmbeddedFerret(root, postgresql=url, binary=binary, nice=0) as front:
        client = pymongo.MongoClient(front.uri)
        client.drop_database("godo_by_id")
        coll = client.godo_by_id.processes
        for start in range(0, docs, 1000):
            coll.insert_many([_doc(i) for i in range(start, min(docs, start + 1000))])
        rng = random.Random(3)
        ids = [_doc(i)["_id"] for i in rng.sample(range(docs), 3 * ops)]
        took: dict[str, list[float]] = {"replace": [], "update": [], "delete": []}
        for n, (name, op) in enumerate((
                ("replace", lambda _id: coll.replace_one({"_id": _id}, {**_doc(0), "_id": _id, "status": "x"})),
                ("update", lambda _id: coll.update_one({"_id": _id}, {"$set": {"status": "y"}})),
                ("delete", lambda _id: coll.delete_one({"_id": _id})))):
            for _id in ids[n * ops:(n + 1) * ops]:
                start = time.perf_counter()
                op(_id)
                took[name].append((time.perf_counter() - start) * 1000)
        client.drop_database("godo_by_id")
        client.close()
        return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", required=True, metavar="URL")
    parser.add_argument("--before", required=True, metavar="FERRETDB",
                        help="a FerretDB binary without godo's PostgreSQL patches")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=20, help="of each operation")
    args = parser.parse_args()
    print(machine_load())
    after = find_binary()
    results = {}
    for label, binary in (("before", args.before), ("after", after)):
        print(f"{label}: {binary}, {args.docs:,} documents", flush=True)
        results[label] = measure(binary, args.postgresql, args.docs, args.ops)
    print(f"{'ms by _id':<10} {'before median':>14} {'worst':>8} {'after median':>13} {'worst':>8} "
          f"{'ratio':>8}")
    for name in ("replace", "update", "delete"):
        b, a = results["before"][name], results["after"][name]
        print(f"{name:<10} {statistics.median(b):14.2f} {max(b):8.2f} {statistics.median(a):13.2f} "
              f"{max(a):8.2f} {statistics.median(b) / statistics.median(a):8.0f}")
    print(machine_load(before=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
