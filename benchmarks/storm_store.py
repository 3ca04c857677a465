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
Beside them: the storm's rate, how much went through the spill journal, how long
the store was held back for the live stream, and how long godo took after the
storm to get everything into the database.

Sampled every 50 ms while godo records (`Sampler`): the kernel's backlog (records
it holds for godo, up to the limit of 65536: past it, it drops and counts them as
lost), the bytes waiting in godo's socket buffer (32 MiB asked, 64 MiB granted),
and the CPU of godo's live thread, its store writer, FerretDB, the storm and
kauditd, with the time the live thread waited for a CPU. `--timeline` prints it
every 0.5 s: how far behind godo fell, when, and who had the CPUs meanwhile.

`--compare` runs, each repeat, the same storm with `--store null` (the pipeline and
tracker without a database) and under the bare C sink of live_storm.py (whose
rules are host-wide: a busy neighbour's syscalls are in its stream too).

With --journal it measures the spill journal alone (append, then read back and
release, of file documents in batches of 100), no kernel and no root needed.

Run as root:  .venv/bin/python benchmarks/storm_store.py [--iterations 100000] [--repeat 1]
                  [--compare] [--timeline]
It takes /run/lock/godo-live.lock; godo itself puts the kernel's audit state back.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import build, godo_command, live_lock, machine_load, median, verdict


# -- what happens during the storm ----------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(path: str) -> float | None:
    """User + system CPU seconds of a process or thread (/proc/PID/stat or task/TID/stat)."""
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _runqueue_wait(path: str) -> float | None:
    """Seconds a thread has waited for a CPU while runnable (/proc/.../schedstat)."""
    try:
        return int(Path(path).read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _peak_rss(pid: int | None) -> int:
    """A process's peak resident memory in bytes (VmHWM), 0 when unknown."""
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _audit_rmem() -> int:
    """Bytes queued on the fullest NETLINK_AUDIT socket (/proc/net/netlink, Eth 9):
    godo's receive buffer while it records."""
    best = 0
    try:
        lines = Path("/proc/net/netlink").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        cols = line.split()
        if len(cols) > 4 and cols[1] == "9":
            best = max(best, int(cols[4]))
    return best


def _find(predicate) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if predicate(int(entry)):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _comm(pid: int, tid: int | None = None) -> str:
    path = f"/proc/{pid}/comm" if tid is None else f"/proc/{pid}/task/{tid}/comm"
    return Path(path).read_text().strip()


class Sampler(threading.Thread):
    """Every `interval` seconds while godo records: the kernel's audit backlog (records
    queued for godo, at most the backlog limit), its `lost` counter, the bytes in
    godo's socket buffer, and the CPU used by godo's threads, FerretDB, the storm and
    kauditd. Where godo falls behind, and what took the CPU meanwhile."""

    def __init__(self, data_dir: Path, interval: float = 0.05, ferret: bool = True):
        super().__init__(name="storm-sampler", daemon=True)
        from godo.source.audit import AuditControl
        self.control = AuditControl()
        self.data_dir = str(data_dir)
        self.interval = interval
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self._kauditd = _find(lambda pid: _comm(pid) == "kauditd")
        self._ferret: list[int] = []
        self._storm: list[int] = []
        self._godo: int | None = None
        # Looking through /proc for FerretDB and the storm costs CPU the storm and
        # godo want: at most every 0.25 s, and for FerretDB only when there is one.
        self._want_ferret = ferret
        self._next_search = 0.0

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        self.control.close()

    def _cpus(self, status_pid: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if status_pid and status_pid != self._godo:
            self._godo = status_pid
        if self._godo:
            try:
                tids = os.listdir(f"/proc/{self._godo}/task")
            except OSError:
                tids = []
            for tid in tids:
                try:
                    name = "godo-main" if int(tid) == self._godo else _comm(self._godo, int(tid))
                except OSError:
                    continue
                value = _cpu(f"/proc/{self._godo}/task/{tid}/stat")
                if name == "godo-main":
                    waited = _runqueue_wait(f"/proc/{self._godo}/task/{tid}/schedstat")
                    if waited is not None:
                        out["godo-main-wait"] = waited
                if value is not None:
                    key = name if name in ("godo-main", "godo-store-writ", "godo-store-spil") else "godo-other"
                    out[key] = out.get(key, 0.0) + value
        now = time.monotonic()
        if (not self._storm or (self._want_ferret and not self._ferret)) and now >= self._next_search:
            self._next_search = now + 0.25
            if self._want_ferret and not self._ferret:
                self._ferret = _find(lambda pid: "ferretdb" in _comm(pid)
                                     and self.data_dir in Path(f"/proc/{pid}/cmdline").read_text())
            if not self._storm:
                self._storm = _find(lambda pid: _comm(pid) == "storm")
        for name, pids in (("ferretdb", self._ferret), ("storm", self._storm),
                           ("kauditd", self._kauditd)):
            values = [v for v in (_cpu(f"/proc/{p}/stat") for p in pids) if v is not None]
            if values:
                out[name] = sum(values)
        return out

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                st = self.control.status()
            except OSError:
                break
            self.samples.append({"t": time.monotonic(), "backlog": st.backlog, "lost": st.lost,
                                 "rmem": _audit_rmem(), "cpu": self._cpus(st.pid),
                                 "rss": _peak_rss(self._godo),
                                 "storm": any(os.path.exists(f"/proc/{p}") for p in self._storm)})
            self._halt.wait(self.interval)

    NAMES = (("godo-main", "live"), ("godo-main-wait", "waitcpu"), ("godo-store-writ", "writer"),
             ("godo-store-spil", "spill"), ("godo-other", "other"),
             ("ferretdb", "ferret"), ("storm", "storm"), ("kauditd", "kauditd"))

    def peaks(self) -> dict:
        """Peak backlog and socket queue, records lost, and CPU seconds per consumer
        while the storm ran."""
        samples = self.samples
        during = [s for s in samples if s["storm"]]
        out = {"backlog": max((s["backlog"] for s in samples), default=0),
               "rmem": max((s["rmem"] for s in samples), default=0),
               "rss": max((s["rss"] for s in samples), default=0),
               "lost": (samples[-1]["lost"] - samples[0]["lost"]) & 0xFFFFFFFF if samples else 0,
               "storm_cpu": {}}
        if len(during) >= 2:
            first, last = during[0]["cpu"], during[-1]["cpu"]
            out["storm_cpu"] = {short: last[name] - first[name] for name, short in self.NAMES
                                if name in first and name in last}
            out["storm_span"] = during[-1]["t"] - during[0]["t"]
        return out

    def timeline(self, step: float = 0.5) -> list[str]:
        """A line per `step` seconds: peak backlog and socket queue, records lost,
        and each consumer's share of one CPU."""
        samples = self.samples
        if len(samples) < 2:
            return ["(no samples)"]
        start = samples[0]["t"]
        buckets: dict[int, list[dict]] = {}
        for sample in samples:
            buckets.setdefault(int((sample["t"] - start) / step), []).append(sample)
        lines = [f"{'t s':>5} {'backlog':>8} {'sockbuf MB':>10} {'lost':>8}  "
                 + " ".join(f"{short:>7}" for _n, short in self.NAMES) + "   (CPU % of one core)"]
        prev = samples[0]
        for index in sorted(buckets):
            bucket = buckets[index]
            last = bucket[-1]
            span = last["t"] - prev["t"]
            cpu = []
            for name, _short in self.NAMES:
                a, b = prev["cpu"].get(name), last["cpu"].get(name)
                cpu.append("-" if a is None or b is None or span <= 0 else f"{100 * (b - a) / span:.0f}")
            lines.append(f"{index * step:5.1f} {max(s['backlog'] for s in bucket):>8,} "
                         f"{max(s['rmem'] for s in bucket) / 1e6:>10.1f} "
                         f"{(last['lost'] - prev['lost']) & 0xFFFFFFFF:>8,}  "
                         + " ".join(f"{c:>7}" for c in cpu) + ("   storm" if bucket[0]["storm"] else ""))
            prev = last
        return lines


# -- one storm ----------------------------------------------------------------------

def run_storm(godo: list[str], storm: Path, iterations: int, workdir: Path,
              store: str = "mongo") -> dict:
    """`godo record -- storm N` into the embedded FerretDB (`store` "mongo") or into
    nothing (`store` "null"), sampled throughout."""
    data = workdir / "godo-data"
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_MONGO_URI", "GODO_CONFIG")}
    env["GODO_DATA_DIR"] = str(data)
    out_file = workdir / "storm.out"
    sampler = Sampler(data, ferret=store != "null")
    sampler.start()
    began = time.monotonic()
    try:
        done = subprocess.run([*godo, "record", *(["--store", "null"] if store == "null" else []),
                               "--", "sh", "-c", f"{storm} {iterations} > {out_file}"],
                              env=env, capture_output=True, text=True)
        wall = time.monotonic() - began
    finally:
        sampler.stop()
    storm_out = out_file.read_text() if out_file.exists() else ""
    print(done.stderr.strip(), flush=True)
    if done.returncode != 0 or "rate" not in storm_out:
        raise SystemExit(f"godo record failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    words = storm_out.split()
    sample = {"store": store, "rate": float(words[words.index("rate") + 1]),
              "storm_seconds": float(words[words.index("seconds") + 1]), "wall": wall,
              "summary": done.stderr.strip(), "peaks": sampler.peaks(),
              "timeline": sampler.timeline()}
    if store == "null":
        words = sample["summary"].split()
        sample["kernel_lost"] = int(words[words.index("lost") + 1])
        sample["records"] = int(words[words.index("records") + 1])
        return sample

    from godo.store.opening import database
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
    sample.update(run=run, files=files, whole=whole, distinct=len(ids),
                  kernel_lost=run["kernel_lost"], records=run["records"])
    return sample


def print_sampled(sample: dict, timeline: bool) -> None:
    peaks = sample["peaks"]
    cpu = peaks.get("storm_cpu") or {}
    span = peaks.get("storm_span")
    print(f"behind           peak kernel backlog {peaks['backlog']:,} records (limit 65536), "
          f"peak socket queue {peaks['rmem'] / 1e6:.1f} MB; godo's peak RSS {peaks['rss'] / 1e6:.0f} MB")
    if span:
        print("CPU in the storm " + "  ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items())
              + f"  (CPU s over {span:.1f} s sampled)")
    if timeline:
        print("\n".join(sample["timeline"]))


def report(sample: dict, iterations: int) -> bool:
    run, store = sample["run"], sample["run"]["store"]
    journal = store.get("journal") or {}
    loss = run.get("loss", {})
    held = store.get("held") or {}
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
    if held:
        print(f"live first       store held back {held.get('times', 0)} time(s), {held.get('seconds', 0):.1f} s "
              f"in all; {held.get('forced', 0):,} mutations journaled while held (memory bound)")
    print(f"godo wall time   {sample['wall']:>12.1f} s  (storm {sample['storm_seconds']:.1f} s; the rest "
          f"is the kernel queue drained and every document into FerretDB)")
    expected_ok = sample["files"] == iterations == sample["whole"] == sample["distinct"]
    ok_lost = run["kernel_lost"] == 0
    ok_godo = run["godo_lost"] == 0
    print(f"\nkernel lost 0                       {verdict(ok_lost)}")
    print(f"godo-internal loss 0                {verdict(ok_godo)}")
    print(f"every file document, exactly once   {verdict(expected_ok)}")
    # godo exits once the database holds every document: what its run took past
    # the storm's own seconds is the kernel's queue drained and the store caught up.
    after = sample["wall"] - sample["storm_seconds"]
    ok_after = after <= 10.0
    print(f"all in the database <= 10 s after   {verdict(ok_after)}  ({after:.1f} s)")
    return ok_lost and ok_godo and expected_ok and ok_after


def report_null(sample: dict, iterations: int) -> None:
    print(f"storm            {sample['rate']:>12,.0f} syscalls/s  ({iterations * 3:,} syscalls in "
          f"{sample['storm_seconds']:.2f} s)")
    print(f"records          {sample['records']:>12,}")
    print(f"kernel lost      {sample['kernel_lost']:>12}")


def measure_bare(storm: Path, iterations: int, workdir: Path) -> dict:
    """The same storm under c/bare_sink.c (live_storm.py's yardstick: host-wide rules,
    so a busy neighbour's syscalls are in its stream too)."""
    import live_storm
    sink = build("bare_sink", workdir)
    kernel = live_storm.Kernel()
    kernel.begin()
    try:
        s = live_storm.measure_bare(kernel, storm, sink, iterations)
    finally:
        kernel.restore()
        kernel.close()
    return {"store": "bare", "rate": s.rate, "kernel_lost": s.lost, "records": s.received}


def summarise(samples: list[dict], iterations: int) -> None:
    print(f"\nsummary: {iterations * 3:,} syscalls a storm, {len(samples)} run(s)")
    print(f"{'consumer':<26} {'runs':>4} {'median syscalls/s':>17} {'min':>9} {'max':>9} "
          f"{'kernel lost':>12} {'godo-internal':>13} {'file docs':>10}")
    names = {"mongo": "godo into FerretDB", "null": "godo --store null", "bare": "bare C sink"}
    for key in ("mongo", "null", "bare"):
        runs = [s for s in samples if s["store"] == key]
        if not runs:
            continue
        rates = [s["rate"] for s in runs]
        lost = ", ".join(str(s["kernel_lost"]) for s in runs)
        godo = ", ".join(str(s["run"]["godo_lost"]) for s in runs) if key == "mongo" else "-"
        docs = ", ".join(f"{s['files']:,}" for s in runs) if key == "mongo" else "-"
        print(f"{names[key]:<26} {len(runs):>4} {median(rates):>17,.0f} {min(rates):>9,.0f} "
              f"{max(rates):>9,.0f} {lost:>12} {godo:>13} {docs:>10}")


def journal_throughput(n: int, batch: int = 100) -> None:
    import bson

    from godo.store.journal import Journal
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
    parser.add_argument("--compare", action="store_true",
                        help="each repeat, also run the same storm with --store null and under "
                        "the bare C sink (interleaved)")
    parser.add_argument("--timeline", action="store_true",
                        help="print what was sampled every 0.5 s: backlog, socket queue, lost, CPU")
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
    samples: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="godo-storm-store-") as tmp:
        workdir = Path(tmp)
        storm = build("storm", workdir)
        with live_lock():
            print(f"before: {machine_load()}", flush=True)
            for i in range(args.repeat):
                for store in ("mongo", "null", "bare") if args.compare else ("mongo",):
                    run_dir = workdir / f"run{i}-{store}"
                    run_dir.mkdir()
                    if store == "bare":
                        sample = measure_bare(storm, args.iterations, run_dir)
                        print(f"\nrun {i + 1}: the same storm under the bare C sink: "
                              f"{sample['rate']:,.0f} syscalls/s, kernel lost {sample['kernel_lost']}")
                        samples.append(sample)
                        continue
                    sample = run_storm(godo, storm, args.iterations, run_dir, store)
                    samples.append(sample)
                    if store == "null":
                        print(f"\nrun {i + 1}: godo record --store null -- storm {args.iterations}")
                        report_null(sample, args.iterations)
                    else:
                        print(f"\nrun {i + 1}: godo record -- storm {args.iterations} into the embedded "
                              f"FerretDB (defaults: backlog 65536, wait 0)")
                        ok = report(sample, args.iterations) and ok
                    print_sampled(sample, args.timeline)
            print(f"\nafter:  {machine_load(before=False)}")
    summarise(samples, args.iterations)
    print()
    journal_throughput(200_000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
