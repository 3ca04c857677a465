"""A replay into the embedded FerretDB, and where its time goes.

    .venv/bin/python benchmarks/replay_store.py [--corpus benchmarks/data/corpus.log]

`godo replay --mongo URI FILE` into a FerretDB of its own (a fresh SQLite data
directory, started here so that its CPU seconds can be read apart from godo's),
timed from start until godo exits (it waits until the database has every
document). Then, for the same file:

  pipeline+tracker  godo's CPU seconds for `godo replay --store null FILE`
  encoding          making every document and encoding it to BSON (in this process)
  driver            godo's CPU seconds into the store, less the two above: pymongo
                    and the store's writer
  server            FerretDB's CPU seconds during the replay

and the documents in the database, counted back per collection. Also, as wholes:
`godo replay --store null FILE` (best of 3) and `godo replay FILE` into a fresh
embedded store that godo starts itself, and their ratio (the target: <= 4x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, cpu_seconds, godo_command, machine_load


def child_cpu(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall s, CPU s) of a child process, its own children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.decode(errors='replace').strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def encoding(path: str) -> dict:
    """CPU seconds to make and BSON-encode every document a replay writes (run with
    --encoding, in a process of its own)."""
    import bson

    from godo.run.wiring import Run
    from godo.source.logfile import LogSource
    from godo.store.base import NullStore, document_of
    from godo.tracker import Scope

    class Encoding(NullStore):
        seconds = 0.0
        documents = 0

        def write(self, mutations, *, dense=False):
            super().write(mutations, dense=dense)
            start = time.process_time()
            for _name, doc in mutations:
                bson.encode(document_of(doc))
            Encoding.seconds += time.process_time() - start
            Encoding.documents += len(mutations)

    run = Run(Encoding("bench"), "replay", Scope("host"), host="bench", boot="bench")
    for chunk in LogSource(path).chunks():
        run.feed_log(chunk, "corpus")
    run.finish()
    return {"seconds": Encoding.seconds, "documents": Encoding.documents}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(DATA_DIR / "corpus.log"))
    parser.add_argument("--encoding", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.encoding:
        print(json.dumps(encoding(args.encoding)))
        return 0
    from godo.store.ferret import EmbeddedFerret
    from godo.store.opening import database

    corpus = Path(args.corpus)
    godo = godo_command()
    print(machine_load())
    with tempfile.TemporaryDirectory(prefix="godo-replay-store-") as tmp:
        env = dict(os.environ, GODO_DATA_DIR=str(Path(tmp) / "godo"))
        env.pop("GODO_CONFIG", None)
        env.pop("GODO_MONGO_URI", None)
        nulls = [child_cpu([*godo, "replay", "--store", "null", str(corpus)], env) for _ in range(3)]
        null_wall, null_cpu = min(w for w, _ in nulls), min(c for _, c in nulls)
        # The whole user's command: godo starts its embedded FerretDB in a fresh data
        # directory and exits once the database holds every document.
        embedded_wall = child_cpu([*godo, "replay", str(corpus)], env)[0]
        done = subprocess.run([sys.executable, __file__, "--encoding", str(corpus)],
                              capture_output=True, text=True, check=True)
        encoded = json.loads(done.stdout)
        with EmbeddedFerret(Path(tmp) / "ferret") as ferret:
            server0 = cpu_seconds(ferret.pid)
            wall, godo_cpu = child_cpu([*godo, "replay", "--mongo", ferret.uri, str(corpus)], env)
            server = cpu_seconds(ferret.pid) - server0
            with database(ferret.uri, tmp) as db:
                counts = {name: db[name].estimated_document_count()
                          for name in ("processes", "files", "containers", "runs")}
    print(machine_load(before=False))
    documents = sum(counts.values())
    driver = godo_cpu - null_cpu - encoded["seconds"]
    print(f"\n{corpus}: replayed into the embedded FerretDB in {wall:.1f} s wall, "
          f"{documents:,} documents in the database ({documents / wall:,.0f} a second): "
          + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    print(f"\nwall time, whole processes: `godo replay --store null` {null_wall:.2f} s (best of 3), "
          f"`godo replay` into a fresh embedded store {embedded_wall:.2f} s = "
          f"{embedded_wall / null_wall:.1f}x, into the FerretDB started here {wall:.2f} s = "
          f"{wall / null_wall:.1f}x (target <= 4x)")
    print("\nwhere the time went (CPU s):")
    print(f"  pipeline+tracker  {null_cpu:7.2f}   (godo replay --store null)")
    print(f"  encoding          {encoded['seconds']:7.2f}   ({encoded['documents']:,} documents made and "
          f"BSON-encoded)")
    print(f"  driver            {driver:7.2f}   (godo's CPU into the store, less the above: pymongo "
          f"and the writer)")
    print(f"  server            {server:7.2f}   (FerretDB)")
    print(f"  godo in all       {godo_cpu:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
