"""What the spill journal costs: append, open (every record checked) and read back
100,000 file documents as the store encodes them, in batches of 1,000, and the
bytes its framing adds to the documents' own BSON.

    .venv/bin/python benchmarks/journal_cost.py [--documents N]

Best of 3, no fsync (the store syncs at most once a second). Beside each figure:
the same per document. The database takes about 1,300-2,700 of these documents a
second (README, "The store's cost"), so the journal's microseconds are not what a
replay from it waits on.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import bson

from godo.store.journal import Journal


def documents(n: int) -> list:
    return [("files", f"h:{i}", f"h:{i}", bson.encode({
        "_id": f"h:{i}", "host": "h", "process": f"h:b:{i}:1", "path": f"/work/out/{i}/x",
        "flags": 577, "opened": i, "closed": i, "writes": 1, "bytes": 5})) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    args = parser.parse_args()
    docs = documents(args.documents)
    payload = sum(len(d[3]) for d in docs)
    best: dict[str, float] = {}
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "j", fsync_interval=None)
            began = time.perf_counter()
            for start in range(0, len(docs), 1000):
                journal.append(docs[start:start + 1000])
            timings = {"append": time.perf_counter() - began}
            size = journal.size
            journal.close()
            began = time.perf_counter()
            journal = Journal(Path(tmp) / "j")
            timings["open"] = time.perf_counter() - began
            began = time.perf_counter()
            read = 0
            while (record := journal.read()) is not None:
                read += len(record[0])
                journal.release(record[1])
            timings["read"] = time.perf_counter() - began
            journal.close()
            assert read == len(docs)
        for key, value in timings.items():
            best[key] = min(best.get(key, value), value)
    n = len(docs)
    print(f"{n} documents, {payload:,} bytes of BSON; journal {size:,} bytes "
          f"(framing and record heads {size - payload:,}: {100 * (size - payload) / payload:.1f}%)")
    for key in ("append", "open", "read"):
        print(f"  {key:<6} {best[key] * 1000:7.1f} ms   {best[key] * 1e6 / n:5.2f} us/document")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
