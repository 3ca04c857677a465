"""What the command line's queries cost on a big store.

    .venv/bin/python benchmarks/query_store.py            # --files 1000000 --runs 1

Builds once (cached in benchmarks/data/query_store/, rebuilt when --files or the
layout changes) a store in an embedded FerretDB of its own: 4 runs, 3 containers
(docker, podman, containerd), one process for every 10 files in process trees (a
shell, make, compilers, linkers), the files from a pool of paths as a build opens
them (libraries and headers read, objects and logs written, a container's files
with their host paths). The documents are made by godo's own model
(`godo.tracker.model`), so they have the shape godo writes, and go in by bulk
inserts. Then times each query as a whole `godo` process against it (`--mongo`:
the server is up, so its start is not counted), best of `--repeat`, output
to a file, and the render of a 10,000-row table in this process.

    .venv/bin/python benchmarks/query_store.py --postgresql postgres://USER@HOST:PORT/DB

also builds the same documents (once: a stamp in the database says which) through
a FerretDB front-end of godo's build on that PostgreSQL (its `--handler=postgresql`),
and times each query on both stores side by side, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _common import DATA_DIR, godo_command, machine_load

from godo.store.ferret import EmbeddedFerret

LAYOUT = 3          # bump when what is built changes: the cache is rebuilt
DATABASE = "godo_bench"
HOST = "bench-host"
BOOT = "0123456789abcdef0123456789abcdef"
T0 = 1_796_000_000.0   # 2026-11-30, the first run's start
RUNS = 4
FILES_PER_PROCESS = 10
CONTAINERS = (("docker", "web"), ("podman", "db"), ("containerd", None))
IN_CONTAINER = 0.3     # the share of processes in a container

PROGRAMS = (("/usr/bin/make", ["make", "-j2"]), ("/usr/bin/gcc", ["gcc", "-O2", "-c"]),
            ("/usr/lib/gcc/x86_64-linux-gnu/12/cc1", ["cc1", "-quiet"]),
            ("/usr/bin/as", ["as", "--64"]), ("/usr/bin/ld", ["ld", "-o", "a.out"]),
            ("/usr/bin/python3.11", ["python3", "setup.py", "build"]),
            ("/usr/bin/sh", ["sh", "-c", "true"]), ("/usr/bin/sed", ["sed", "-e", "s/a/b/"]))
READS = ([f"/usr/lib/x86_64-linux-gnu/lib{n}.so.6" for n in ("c", "m", "z", "ssl", "crypto")] +
         [f"/usr/include/{h}.h" for h in ("stdio", "stdlib", "string", "unistd", "errno")] +
         ["/etc/ld.so.cache", "/etc/passwd", "/proc/self/status", "/dev/null"])


def build(uri: str, files: int, hosts: int = 1) -> dict:
    """The store, built through the server at `uri` by godo's own document makers
    and bulk inserts;
    with `hosts` above 1, run r is of host `bench-host-(r % hosts)` (a fleet whose
    hosts recorded one after another: the oldest host's documents are the oldest)."""
    import pymongo

    from godo.tracker.model import Container, Context, OpenFile, Process

    rng = random.Random(14)
    client = pymongo.MongoClient(uri)
    db = client[DATABASE]
    client.drop_database(DATABASE)
    from godo.store.schema import INDEXES
    for name, keys in INDEXES.items():
        for k in keys:
            db[name].create_indexes([pymongo.IndexModel(k)])
    processes = files // FILES_PER_PROCESS
    per_run = processes // RUNS
    run_seconds = per_run * 0.05                      # 20 processes a second
    started = time.perf_counter()
    pending = {"processes": [], "files": []}

    def put(name, doc):
        batch = pending[name]
        batch.append(doc)
        if len(batch) >= 1000:
            db[name].insert_many(batch, ordered=False)
            batch.clear()

    run_ids, run_hosts = [], []
    for r in range(RUNS):
        host = HOST if hosts == 1 else f"{HOST}-{r % hosts}"
        run_start = T0 + r * (run_seconds + 3600)
        run_id = f"{host}:{time.strftime('%Y%m%dT%H%M%S', time.gmtime(run_start))}:{r:08x}"
        ctx = Context(host, BOOT, run_id)
        run_hosts.append(host)
        run_ids.append(run_id)
        boxes = []
        for c, (engine, name) in enumerate(CONTAINERS):
            box = Container(f"{r}{c}" + "%062x" % rng.getrandbits(248), run_start, ctx)
            box.name, box.engine = name, engine
            box.rootfs = f"/var/lib/{engine}/overlay/{box.id[:12]}/merged"
            boxes.append(box)
        serial = 0
        parents: list[Process] = []
        for p in range(per_run):
            start = run_start + p * 0.05
            pid = 1000 + (r * per_run + p) % 60000
            parent = parents[-1] if parents and rng.random() < 0.8 else None
            proc = Process(f"{host}:{BOOT[:8]}:{pid}:{int(start * 1000)}", pid,
                           parent.pid if parent else 1, parent.id if parent else None, start, ctx)
            exe, argv = PROGRAMS[rng.randrange(len(PROGRAMS))]
            proc.exe, proc.argv, proc.comm = exe, argv + [f"src/file{p}.c"], exe.rsplit("/", 1)[1][:15]
            proc.cwd, proc.uid, proc.auid = "/home/user/project", 1000, 1000
            proc.execs = [{"time": _utc(start), "exe": exe, "argv": proc.argv, "cwd": proc.cwd}]
            proc.exit_time, proc.exit_code, proc.status = start + 0.04, 0, "exited"
            proc.in_scope = True
            box = boxes[p % len(boxes)] if rng.random() < IN_CONTAINER else None
            if box is not None:
                proc.container, proc.root = box.id, box.rootfs
                box.processes += 1
                box.last = max(box.last, start + 0.04)
            for f in range(FILES_PER_PROCESS):
                serial += 1
                written = f >= FILES_PER_PROCESS - 2
                path = (f"/home/user/project/build/file{p}.{'o' if f % 2 else 'log'}" if written
                        else READS[rng.randrange(len(READS))])
                flags = 0o1101 if written else 0o2000000
                opened = start + f * 0.003
                of = OpenFile(serial, proc, 3 + f, path, flags, 0o644 if written else 0, opened,
                              written and f % 2 == 1, False)
                of.closed = opened + 0.002
                if written:
                    of.writes, of.bytes = 4, 4096
                    of.first_write, of.last_write = opened + 0.0005, opened + 0.0015
                    proc.files_written += 1
                    if box is not None:
                        box.files_written += 1
                if box is not None:
                    of.host_path = box.rootfs + path
                put("files", of.seal().document())
            put("processes", proc.document())
            parents = (parents + [proc])[-4:]
        for box in boxes:
            box.status, box.exit_code = "exited", 0
            db.containers.insert_one(box.document())
        db.runs.insert_one(_run_document(run_id, host, run_start, run_start + run_seconds,
                                         per_run, per_run * FILES_PER_PROCESS))
        print(f"  run {r + 1}/{RUNS} built, {time.perf_counter() - started:.0f} s", flush=True)
    for name, batch in pending.items():
        if batch:
            db[name].insert_many(batch, ordered=False)
    took = time.perf_counter() - started
    client.close()
    print(f"built in {took:.0f} s")
    return {"runs": run_ids, "hosts": run_hosts, "pid": pid, "container": boxes[0].id, "since": _iso(T0), "until": _iso(T0 + run_seconds),
            "processes": processes, "files": processes * FILES_PER_PROCESS,
            "containers": RUNS * len(CONTAINERS)}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _utc(ts):
    from godo.tracker.model import utc
    return utc(ts)


def _run_document(run_id, host, started, ended, processes, files):
    return {"_id": run_id, "host": host, "boot_id": BOOT, "started": _utc(started),
            "ended": _utc(ended), "status": "finished", "mode": "live", "scope": "host",
            "command": None, "exit_status": None, "processes": processes, "files": files,
            "records": files * 4, "events": files * 2, "kernel_lost": 0, "godo_lost": 0}


def cached_store(files: int, rebuild: bool, hosts: int = 1) -> tuple[Path, dict]:
    """The store's data dir, and what the queries need of it (its runs, a pid, the
    first run's window): kept beside it, since on FerretDB even finding those
    scans a collection."""
    data = DATA_DIR / ("query_store" if hosts == 1 else f"query_store_{hosts}_hosts")
    stamp = data / "built.json"
    wanted = {"files": files, "layout": LAYOUT, **({} if hosts == 1 else {"host_count": hosts})}
    if not rebuild and stamp.exists():
        built = json.loads(stamp.read_text())
        if {key: built.get(key) for key in wanted} == wanted:
            return data, built
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    print(f"building a store of {files:,} file documents in {data} (once)", flush=True)
    with EmbeddedFerret(data, nice=0) as ferret:
        built = {**wanted, **build(ferret.uri, files, hosts)}
    stamp.write_text(json.dumps(built))
    return data, built


STAMP = "godo_bench_built"   # the database where a PostgreSQL store's stamp is kept


def cached_postgresql(uri: str, files: int, rebuild: bool) -> dict:
    """The same store built through a front-end on PostgreSQL (once: its stamp,
    what cached_store keeps in built.json, is kept in that PostgreSQL)."""
    import pymongo
    wanted = {"files": files, "layout": LAYOUT}
    with pymongo.MongoClient(uri) as client:
        built = client[STAMP].stamp.find_one({"_id": "built"}) or {}
        if not rebuild and {key: built.get(key) for key in wanted} == wanted:
            return built
        client[STAMP].stamp.delete_many({})
    print(f"building a store of {files:,} file documents in PostgreSQL (once)", flush=True)
    built = {**wanted, **build(uri, files)}
    with pymongo.MongoClient(uri) as client:
        client[STAMP].stamp.insert_one({"_id": "built", **built})
    return built


@contextmanager
def postgresql_front_end(url: str):
    """The FerretDB front-end godo starts for a fleet's PostgreSQL at `url`
    (`--postgresql URL`), in a directory of its own: its MongoDB URI."""
    with tempfile.TemporaryDirectory(prefix="godo-bench-") as root, \
            EmbeddedFerret(root, postgresql=url, nice=0) as front:
        yield front.uri


def timed(cmd: list[str], repeat: int) -> tuple[float, int, str]:
    """Best wall time of a whole process, its stdout's line count, its stderr."""
    best, lines, err = float("inf"), 0, ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True)
        took = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: {done.stderr.decode(errors='replace').strip()}")
        best, lines, err = min(best, took), done.stdout.count(b"\n"), done.stderr.decode().strip()
    return best, lines, err


def ensure_indexes(uri: str) -> None:
    """godo's indexes as they are now on the store as it was built (a godo start
    creates them so): the missing ones made, and the time that took said."""
    import pymongo

    from godo.store.schema import INDEXES
    db = pymongo.MongoClient(uri)[DATABASE]
    for name, keys in INDEXES.items():
        have = [list(index["key"].items()) for index in db[name].list_indexes()]
        for k in keys:
            if [tuple(pair) for pair in k] not in [[tuple(p) for p in h] for h in have]:
                start = time.perf_counter()
                db[name].create_indexes([pymongo.IndexModel(k)])
                print(f"made the index {name} {k} in {time.perf_counter() - start:.1f} s", flush=True)
    db.client.close()


def render_10k(uri: str) -> tuple[float, float]:
    """Seconds to lay out 10,000 file rows as a pipe and as a 60-column terminal."""
    import pymongo

    from godo.cli.views import render_files
    db = pymongo.MongoClient(uri)[DATABASE]
    docs = list(db.files.find({}, limit=10_000))
    out = []
    for width in (None, 60):
        start = time.perf_counter()
        render_files(docs, {}, width)
        out.append(time.perf_counter() - start)
    return out[0], out[1]


@contextmanager
def _none():
    yield None


def _database(uri: str) -> str:
    """The URI naming the benchmark's database (godo's --mongo takes it from there)."""
    return uri.replace("/?", f"/{DATABASE}?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each query (best of)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", help="only the queries whose label contains this")
    parser.add_argument("--postgresql", metavar="URL",
                        help="also on a FerretDB front-end on this PostgreSQL, side by side")
    parser.add_argument("--hosts", type=int, default=1,
                        help="the runs spread over this many hosts (a store of its own), and "
                        "the --host queries asked of the oldest")
    args = parser.parse_args()
    print(machine_load())
    data, built = cached_store(args.files, args.rebuild, args.hosts)
    runs, a_pid, since, until = built["runs"], built["pid"], built["since"], built["until"]
    box = built["container"][:12]   # the last run's "web" (each run has one of that name)
    with EmbeddedFerret(data, nice=0) as ferret, \
            (postgresql_front_end(args.postgresql) if args.postgresql else _none()) as pg_uri:
        stores = {"sqlite": ferret.uri}
        if pg_uri:
            pg_built = cached_postgresql(pg_uri, args.files, args.rebuild)
            if pg_built["runs"] != runs:
                raise SystemExit("the PostgreSQL store holds other documents: give --rebuild")
            stores["postgresql"] = pg_uri
        print(f"store: {built['files']:,} files, {built['processes']:,} processes, "
              f"{len(runs)} runs, {built['containers']} containers, "
              f"{len(set(built.get('hosts') or [HOST]))} hosts")
        for uri in stores.values():
            ensure_indexes(_database(uri))
        godo = godo_command()
        queries = [
            ("files --run R --limit 100", ["files", "--run", runs[-1], "--limit", "100"]),
            ("files (the latest run) --limit 100", ["files", "--limit", "100"]),
            ("files --pid P", ["files", "--run", runs[-1], "--pid", str(a_pid)]),
            ("files --path GLOB --limit 100", ["files", "--path", "*/build/file12*.o", "--limit", "100"]),
            # A glob with a literal start: a range on the path the database answers.
            ("files --path /DIR/GLOB --limit 100", ["files", "--path",
                                                   "/home/user/project/build/file12*.o", "--limit", "100"]),
            ("files --written --limit 100", ["files", "--written", "--limit", "100"]),
            ("files --container C --limit 100", ["files", "--container", box, "--limit", "100"]),
            ("files --since/--until --limit 100", ["files", "--since", since, "--until", until,
                                                  "--limit", "100"]),
            ("files --limit 10000 (table)", ["files", "--limit", "10000"]),
            ("tree --limit 100", ["tree", "--limit", "100"]),
            ("tree --container C --limit 100", ["tree", "--container", box, "--limit", "100"]),
            ("containers", ["containers"]),
            ("export --run R", ["export", "--run", runs[-1]]),
        ]
        if args.hosts > 1:
            # A listing with --limit reads oldest first, so the newest host's skips
            # every other host's older documents; one without reads newest first
            # (its newest 1000), so the oldest host's skips every newer one.
            oldest, newest = built["hosts"][0], built["hosts"][-1]
            queries += [
                ("files --host NEWEST --limit 100", ["files", "--host", newest, "--limit", "100"]),
                ("files --host OLDEST (newest 1000)", ["files", "--host", oldest]),
                ("files --host OLDEST --written", ["files", "--host", oldest, "--written"]),
                ("tree --host NEWEST --limit 100", ["tree", "--host", newest, "--limit", "100"]),
                ("tree --host OLDEST (newest 1000)", ["tree", "--host", oldest]),
                ("tree --host OLDEST --latest", ["tree", "--host", oldest, "--latest"]),
                ("containers --host OLDEST", ["containers", "--host", oldest]),
                ("runs --host OLDEST", ["runs", "--host", oldest]),
                ("hosts", ["hosts"]),
            ]
        # What any whole godo process costs on this machine now, before any query.
        took, lines, _ = timed(godo + ["--version"], args.repeat)
        print(f"{'(floor: godo --version)':<38} {took:12.2f} {lines:7}", flush=True)
        for label, argv in queries:
            if args.only and args.only not in label:
                continue
            row, took = [], {}
            for name, uri in stores.items():
                took[name], lines, err = timed(godo + argv + ["--mongo", _database(uri)], args.repeat)
                row.append(f" {took[name]:12.2f} {lines:7}")
            ratio = f" {took['postgresql'] / took['sqlite']:9.2f}" if pg_uri else ""
            print(f"{label:<38}{''.join(row)}{ratio}", flush=True)
        pipe, narrow = render_10k(ferret.uri)
        print(f"render 10,000 file rows: {pipe * 1000:.0f} ms piped, {narrow * 1000:.0f} ms "
              f"at 60 columns")
    print(machine_load(before=False))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
