"""Live benchmark: how much does recording with godo slow a syscall storm, next
to the fastest possible consumer?

The storm (c/storm.c) is a C loop of open/write/close on /dev/null. With
backlog_wait_time 0 the kernel never makes the workload wait for the consumer;
a consumer that falls behind shows up as records counted in the kernel's `lost`
instead. So the figures are the storm's rate under each consumer AND the lost
delta; a fast rate with records lost is a failure, not a win.

Consumers, each seeing the same host-wide rules (godo.rules.build_rules, key
`godo`) at backlog 65536 and wait 0:
  disabled  audit off, no rules: what the machine does with nobody watching
  bare      c/bare_sink.c registered as the audit daemon, recvmmsg and discard;
            this harness installs the rules and sets enabled/backlog/wait
  godo      `godo record --scope host --store null` as a daemon, which sets all
            of that itself
  auditd    auditd 3 (`auditd -n -s nochange -c DIR`, Debian's package) writing its
            RAW log with INCREMENTAL_ASYNC flushes, priority_boost 4 (its
            defaults), into a temp dir; this harness installs the rules and sets
            enabled and backlog as for the bare sink, and backlog_wait_time
            AUDITD_WAIT: at 0 auditd drops most of a storm that godo keeps up
            with, and its CPU seconds would be those of the records it kept. With
            the wait, the kernel slows the storm down to auditd's pace and auditd
            handles every record: its CPU seconds are its cost for the storm.

Targets: godo's median storm rate >= 0.9 x the bare sink's, with lost 0 and
backlog_wait_time 0; godo's CPU seconds for the storm (its own process's, so
the storm's are not among them) <= 2 x the bare sink's and <= 0.5 x auditd's,
with lost 0 and godo's own loss 0 (`godo lost` in its summary).

A consumer's CPU window runs from the storm's start until it has handled every
record the kernel sent it: the kernel holds none for it, none wait unread in its
audit socket (/proc/net/netlink), and no thread of it is runnable. (Until the
kernel's queue alone is empty, godo could still hold tens of MB unread.)
`--busy` keeps one CPU busy with an unrelated process (`yes`) all along.

Run as root:  .venv/bin/python benchmarks/live_storm.py [--repeat 3] [--iterations 100000]
It takes /run/lock/godo-live.lock itself and puts back the kernel's audit state
(rules, enabled, backlog, wait) on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (build, busy_neighbour, cpu_seconds, die_with_parent, godo_command, live_lock,
                     machine_load, median, verdict, wait_handled, wait_until)

from godo.source import audit as A
from godo.source import rules as R
from godo.source.rules import native_arch
from godo.source.session import Settings

BACKLOG = 65536
TARGET = 0.9
CPU_TARGET = 0.5  # godo's CPU over auditd's
BARE_CPU_TARGET = 2.0  # godo's CPU over the bare sink's
AUDITD_WAIT = 15000  # the kernel's backlog_wait_time for auditd's runs
AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_format = RAW
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 0
max_log_file_action = IGNORE
num_logs = 1
priority_boost = 4
name_format = NONE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = {plugins}
q_depth = 2000
overflow_action = IGNORE
end_of_event_timeout = 2
"""


@dataclass
class Sample:
    consumer: str
    rate: float
    lost: int | None = None
    consumer_cpu: float | None = None     # CPU seconds the consumer used during the storm
    received: int | None = None           # datagrams (sink) or records (godo) it saw
    backlog_limit: int | None = None
    backlog_wait_time: int | None = None
    drain_seconds: float | None = None    # after the storm, until the consumer handled all it was sent
    notes: list[str] = field(default_factory=list)
    godo_lost: int | None = None          # godo's own loss, as its summary says


class Kernel:
    """The kernel's audit state for this run: what was found, what we changed,
    and putting it back.

    What was found is written to STATE before anything changes, so a harness
    killed outright (SIGKILL: no finally runs) is cleaned up after by the next
    one: its rules out, the settings it found put back."""

    STATE = Path("/run/godo-live-storm.json")  # /run is emptied at boot, as the kernel state is

    def __init__(self) -> None:
        self.control = A.AuditControl()
        now = self.control.status()
        self.found = Settings.of(now)
        self.found_lost = now.lost
        self.arch = native_arch()
        self._ours: list[bytes] = []
        self.recovered = False

    def begin(self) -> None:
        """Check that the audit subsystem is free, recover from a killed harness,
        and write down what we found."""
        st = self.status()
        if st.locked:
            raise SystemExit("the kernel's audit configuration is locked (enabled=2)")
        if st.pid and Path(f"/proc/{st.pid}").exists():
            raise SystemExit(f"the audit stream is owned by {A.describe_pid(st.pid)}: stop it first")
        try:
            self.found = Settings(**json.loads(self.STATE.read_text()))
            self.recovered = True
        except FileNotFoundError:
            if self.godo_rules():
                # Under the lock, with no daemon: nothing is reading what these rules
                # audit. Left by a run that did not take the lock; not ours to remove.
                raise SystemExit("rules with key `godo` are installed, and no daemon reads them: "
                                 "left behind by a run outside the lock; not touching them") from None
        except (OSError, ValueError, TypeError):
            pass  # cut short by a crash: what the kernel shows now is all we know
        if self.recovered:
            print(f"an earlier live_storm was killed: restoring what it found ({self.found})",
                  flush=True)
            self.restore()
        self.STATE.write_text(json.dumps(self.found.__dict__))

    def status(self) -> A.AuditStatus:
        return self.control.status()

    def godo_rules(self) -> int:
        return sum(1 for rule, _raw in self.control.list_rules() if A.GODO_KEY in rule.keys)

    def configure(self, *, enabled: int, backlog_limit: int | None = None,
                  backlog_wait_time: int | None = None) -> None:
        self.control.set_status(enabled=enabled, backlog_limit=backlog_limit,
                                backlog_wait_time=backlog_wait_time)

    def add_rules(self, exclude_pids) -> None:
        for rule in R.build_rules(self.arch, exclude_pids=exclude_pids):
            self._ours.append(self.control.add_rule(rule))

    def remove_rules(self) -> None:
        while self._ours:
            packed = self._ours.pop()
            try:
                self.control.delete_rule(packed)
            except A.AuditError:
                pass

    def wait_drained(self, timeout: float) -> float | None:
        """Seconds until the kernel's queue for the daemon is empty (None: it was
        not, within `timeout`)."""
        start = time.monotonic()
        if wait_until(lambda: self.status().backlog == 0, timeout, 0.02):
            return time.monotonic() - start
        return None

    def restore(self) -> None:
        """Every rule with our key out, enabled/backlog/wait as found."""
        self.remove_rules()
        self.control.delete_rules_with_key()
        now = self.status()
        wanted = {}
        if now.backlog_limit != self.found.backlog_limit:
            wanted["backlog_limit"] = self.found.backlog_limit
        if now.backlog_wait_time != self.found.backlog_wait_time:
            wanted["backlog_wait_time"] = self.found.backlog_wait_time
        if now.enabled != self.found.enabled and now.enabled != 2:
            wanted["enabled"] = self.found.enabled
        if wanted:
            self.control.set_status(**wanted)

    def close(self) -> None:
        """After a restore that worked: nothing left for a next run to recover."""
        self.STATE.unlink(missing_ok=True)
        self.control.close()


def lost_between(before: int, after: int) -> int:
    return (after - before) & 0xFFFFFFFF  # the kernel's counter is a u32


def run_storm(storm: Path, iterations: int) -> float:
    done = subprocess.run([str(storm), str(iterations)], capture_output=True, text=True, check=True)
    words = done.stdout.split()
    return float(words[words.index("rate") + 1])


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it does not go; only ever our own child."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the three measurements ---------------------------------------------------------

def storm_window(kernel: Kernel, pid: int, storm: Path, iterations: int, name: str,
                 end_stream, drain_limit: float, settle: float = 0.0) -> Sample:
    """The storm under a consumer (`pid`) that has taken the stream: its rate, and the
    kernel's loss and the consumer's CPU seconds from the storm's start until it has
    handled every record it was sent. `end_stream` takes the rules out after the
    storm (the rules are host-wide: a busy neighbour's syscalls would otherwise
    stream on into the window); `settle` s more for a last flush."""
    st = kernel.status()
    lost0, cpu0 = st.lost, cpu_seconds(pid)
    rate = run_storm(storm, iterations)
    end_stream()
    drain = wait_handled(pid, lambda: kernel.status().backlog, drain_limit)
    time.sleep(settle)
    lost1, cpu1 = kernel.status().lost, cpu_seconds(pid)
    sample = Sample(name, rate, lost_between(lost0, lost1), cpu1 - cpu0, None, st.backlog_limit,
                    st.backlog_wait_time, drain)
    if drain is None:
        sample.notes.append(f"{name} had not handled all it was sent {drain_limit:g} s after the storm")
    return sample


def measure_disabled(kernel: Kernel, storm: Path, iterations: int) -> Sample:
    kernel.configure(enabled=0)
    try:
        return Sample("disabled", run_storm(storm, iterations))
    finally:
        kernel.restore()


def measure_bare(kernel: Kernel, storm: Path, sink: Path, iterations: int) -> Sample:
    kernel.configure(enabled=1, backlog_limit=BACKLOG, backlog_wait_time=0)
    proc = subprocess.Popen([str(sink)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=die_with_parent)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            stop_process(proc, 5)
            raise RuntimeError(f"bare_sink did not register: {line!r} {proc.stderr.read()!r}")
        # The kernel exempts the registered daemon anyway; the rule says so as
        # godo's does for godo, so both consumers get byte-identical rule sets.
        kernel.add_rules({proc.pid})
        sample = storm_window(kernel, proc.pid, storm, iterations, "bare", kernel.remove_rules, 30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        sample.received = _summary_number(out, "datagrams")
        if proc.returncode:
            sample.notes.append(f"bare_sink exited {proc.returncode}: {err.strip()}")
        return sample
    finally:
        kernel.remove_rules()
        stop_process(proc, 10)
        kernel.restore()


def measure_godo(kernel: Kernel, storm: Path, iterations: int, workdir: Path,
                 profile: Path | None, godo: list[str]) -> Sample:
    env = dict(os.environ, GODO_DATA_DIR=str(workdir / "godo-data"))
    args = ["record", "--scope", "host", "--store", "null"]
    cmd = ([sys.executable, str(Path(__file__).with_name("_profile_godo.py")), str(profile), *args]
           if profile else [*godo, *args])
    log = open(workdir / "godo.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)
    expected = len(R.build_rules(kernel.arch))
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                return True
            return kernel.status().pid == proc.pid and kernel.godo_rules() >= expected

        if not wait_until(ready, 60, 0.05) or proc.poll() is not None:
            stop_process(proc, 10)
            log.seek(0)
            raise RuntimeError(f"godo did not start recording: {log.read().strip()}")
        # godo's rules out after the storm, as the bare sink's are (godo takes a rule
        # already gone as removed). The window ends when godo has handled every
        # record the kernel sent it, not when the kernel's queue is empty: godo may
        # then hold tens of MB unread still.
        sample = storm_window(kernel, proc.pid, storm, iterations, "godo",
                              kernel.control.delete_rules_with_key, 120)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        log.seek(0)
        summary = log.read()
        sample.received = _summary_number(summary, "records")
        own = re.search(r"godo lost (\d+)", summary)
        sample.godo_lost = int(own.group(1)) if own else None
        if proc.returncode:
            sample.notes.append(f"godo exited {proc.returncode}: {summary.strip()[-500:]}")
        return sample
    finally:
        stop_process(proc, 60)
        log.close()
        kernel.restore()


def measure_auditd(kernel: Kernel, storm: Path, iterations: int, workdir: Path) -> Sample:
    """auditd 3 as Debian ships it, its config in a temp dir, writing a RAW log."""
    conf = workdir / "auditd"
    (conf / "plugins").mkdir(parents=True, exist_ok=True)
    log = conf / "audit.log"
    log.unlink(missing_ok=True)
    (conf / "auditd.conf").write_text(AUDITD_CONF.format(log=log, plugins=conf / "plugins"))
    (conf / "auditd.conf").chmod(0o640)
    kernel.configure(enabled=1, backlog_limit=BACKLOG, backlog_wait_time=AUDITD_WAIT)
    proc = subprocess.Popen(["auditd", "-n", "-s", "nochange", "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=die_with_parent)
    try:
        if not wait_until(lambda: proc.poll() is not None or kernel.status().pid == proc.pid, 30, 0.05) \
                or proc.poll() is not None:
            stop_process(proc, 10)
            raise RuntimeError(f"auditd did not register: {proc.stdout.read().strip()[-500:]}")
        kernel.add_rules({proc.pid})
        # 0.5 s more for its writer thread's last flush.
        sample = storm_window(kernel, proc.pid, storm, iterations, "auditd", kernel.remove_rules, 60,
                              settle=0.5)
        stop_process(proc, 30)
        sample.received = sum(1 for _ in open(log, "rb")) if log.exists() else None
        return sample
    finally:
        kernel.remove_rules()
        stop_process(proc, 30)
        kernel.restore()


def _summary_number(text: str, word: str) -> int | None:
    words = text.split()
    try:
        return int(words[words.index(word) + 1])
    except (ValueError, IndexError):
        return None


# -- report -------------------------------------------------------------------------

def report(samples: dict[str, list[Sample]], iterations: int) -> bool:
    """The per-run figures were printed as they came; this is the summary."""
    rates = {name: median([s.rate for s in runs]) for name, runs in samples.items() if runs}
    print(f"\nstorm: {iterations * 3:,} syscalls (open/write/close on /dev/null) per run, "
          f"{max(len(r) for r in samples.values())} run(s) each\n")
    print(f"{'consumer':<10} {'median syscalls/s':>17} {'min':>9} {'max':>9} {'lost (sum)':>11} "
          f"{'median cpu s':>13} {'median received':>16}  backlog/wait  max drain s")

    def med(values):
        values = [v for v in values if v is not None]
        return median(values) if values else None

    for name, runs in samples.items():
        if not runs:
            continue
        lost = [s.lost for s in runs]
        cpu, received = med([s.consumer_cpu for s in runs]), med([s.received for s in runs])
        drains = [s.drain_seconds for s in runs]
        limits = sorted({(s.backlog_limit, s.backlog_wait_time) for s in runs if s.backlog_limit is not None})
        print(f"{name:<10} {rates[name]:>17,.0f} {min(s.rate for s in runs):>9,.0f} "
              f"{max(s.rate for s in runs):>9,.0f} "
              f"{'-' if None in lost else f'{sum(lost):,}':>11} "
              f"{'-' if cpu is None else f'{cpu:.2f}':>13} "
              f"{'-' if received is None else f'{received:,.0f}':>16}  "
              f"{' '.join(f'{b}/{w}' for b, w in limits) or '-':<12}  "
              f"{'-' if not runs[0].consumer_cpu else 'not drained' if None in drains else f'{max(drains):.2f}'}")
        for s in runs:
            for note in s.notes:
                print(f"  note: {note}")
    ok_cpu = True
    if samples["auditd"] and samples["godo"]:
        godo_cpu = med([s.consumer_cpu for s in samples["godo"]])
        auditd_cpu = med([s.consumer_cpu for s in samples["auditd"]])
        own = [s.godo_lost for s in samples["godo"]]
        auditd_lost = sum(s.lost or 0 for s in samples["auditd"])
        godo_lost = sum(s.lost or 0 for s in samples["godo"])
        cpu_ratio = godo_cpu / auditd_cpu
        ok_cpu = (cpu_ratio <= CPU_TARGET and godo_lost == 0 and None not in own and sum(own) == 0)
        print(f"\ngodo/auditd CPU s      {godo_cpu:.2f} / {auditd_cpu:.2f} = {cpu_ratio:.3f}   (target "
              f"<= {CPU_TARGET}; kernel lost under godo {godo_lost}, under auditd {auditd_lost}; "
              f"godo's own loss {'?' if None in own else sum(own)})   {verdict(ok_cpu)}")
    if not samples["bare"] or not samples["godo"]:
        print("\nno ratio: a consumer did not run")
        return ok_cpu and bool(samples["auditd"] and samples["godo"])
    # Per record received: the rules are host-wide, so the neighbours' syscalls are
    # in each consumer's stream too, more in one run than in the next.
    godo_us = med([s.consumer_cpu / s.received * 1e6 for s in samples["godo"]
                   if s.consumer_cpu is not None and s.received])
    bare_us = med([s.consumer_cpu / s.received * 1e6 for s in samples["bare"]
                   if s.consumer_cpu is not None and s.received])
    ok_bare_cpu = godo_us is not None and bare_us is not None and godo_us <= BARE_CPU_TARGET * bare_us
    if godo_us is not None and bare_us:
        print(f"\ngodo/bare CPU per record received   {godo_us:.3f} / {bare_us:.3f} us = "
              f"{godo_us / bare_us:.3f}   (target <= {BARE_CPU_TARGET})   {verdict(ok_bare_cpu)}")
    ratio = rates["godo"] / rates["bare"]
    bare_lost = sum(s.lost or 0 for s in samples["bare"])
    godo_lost = sum(s.lost or 0 for s in samples["godo"])
    waits = {s.backlog_wait_time for s in samples["godo"]}
    limits = {s.backlog_limit for s in samples["godo"]}
    ok_ratio = ratio >= TARGET
    ok_lost = godo_lost == 0 and all(s.lost is not None for s in samples["godo"])
    ok_settings = waits == {0} and limits == {BACKLOG}
    if "disabled" in rates:
        print(f"\nbare sink keeps {rates['bare'] / rates['disabled']:.3f} of the unaudited rate; "
              f"godo keeps {rates['godo'] / rates['disabled']:.3f}")
    print(f"godo/bare storm rate   {ratio:.3f}   (target >= {TARGET})   {verdict(ok_ratio)}")
    print(f"kernel lost under godo {godo_lost}   (bare sink: {bare_lost}; target 0)   {verdict(ok_lost)}")
    print(f"godo's backlog/wait    {sorted(limits)}/{sorted(waits)}   (target {BACKLOG}/0)   "
          f"{verdict(ok_settings)}")
    return ok_ratio and ok_lost and ok_settings and ok_cpu and ok_bare_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000,
                        help="storm loop iterations, 3 syscalls each (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each consumer (median)")
    parser.add_argument("--only", choices=("disabled", "bare", "godo", "auditd"), action="append",
                        help="measure only these consumers (repeatable)")
    parser.add_argument("--profile", metavar="FILE",
                        help="run godo under cProfile (CPU time), writing the last run's stats "
                        "to FILE and printing where godo's time went")
    parser.add_argument("--busy", action="store_true",
                        help="keep one CPU busy with an unrelated process (`yes`) throughout")
    parser.add_argument("--godo", metavar="CMD", help="the godo command to measure "
                        "(default: the one beside this interpreter)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("live_storm needs root: it changes the kernel's audit settings", file=sys.stderr)
        return 2
    wanted = args.only or ["disabled", "bare", "godo", "auditd"]
    if "auditd" in wanted and shutil.which("auditd") is None:
        print("auditd is not installed (Debian: apt-get install auditd, then check it is not "
              "running: this harness starts its own): measuring without it", file=sys.stderr)
        wanted.remove("auditd")
    godo = shlex.split(args.godo) if args.godo else godo_command()

    # SIGTERM/SIGHUP take the same way out as Ctrl-C: through every finally.
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    samples: dict[str, list[Sample]] = {"disabled": [], "bare": [], "godo": [], "auditd": []}
    with tempfile.TemporaryDirectory(prefix="godo-storm-") as tmp:
        workdir = Path(tmp)
        storm = build("storm", workdir)
        sink = build("bare_sink", workdir)
        with live_lock(), busy_neighbour(args.busy) as neighbour:
            if neighbour:
                print(f"one CPU kept busy by `yes` (pid {neighbour.pid}) throughout", flush=True)
            kernel = Kernel()
            kernel.begin()  # refuses before changing anything: nothing to restore then
            try:
                print(f"before: {machine_load()}", flush=True)
                print(f"audit found: enabled {kernel.found.enabled} backlog_limit "
                      f"{kernel.found.backlog_limit} wait {kernel.found.backlog_wait_time} "
                      f"lost {kernel.found_lost}", flush=True)
                # Interleaved, so a drift in the machine's speed hits every consumer alike.
                for i in range(args.repeat):
                    for name in ("disabled", "bare", "godo", "auditd"):
                        if name not in wanted:
                            continue
                        if name == "disabled":
                            s = measure_disabled(kernel, storm, args.iterations)
                        elif name == "bare":
                            s = measure_bare(kernel, storm, sink, args.iterations)
                        elif name == "auditd":
                            s = measure_auditd(kernel, storm, args.iterations, workdir)
                        else:
                            profile = Path(args.profile).resolve() if args.profile else None
                            s = measure_godo(kernel, storm, args.iterations, workdir, profile, godo)
                        samples[name].append(s)
                        print(f"run {i + 1} {name:<8} {s.rate:>10,.0f} syscalls/s"
                              + ("" if s.lost is None else f"  lost {s.lost}")
                              + ("" if s.consumer_cpu is None else f"  consumer cpu {s.consumer_cpu:.2f}s")
                              + ("" if s.received is None else f"  received {s.received}"), flush=True)
            finally:
                kernel.restore()
                print(f"after:  {machine_load(before=False)}", flush=True)
                left = kernel.godo_rules()
                now = kernel.status()
                kernel.close()
                print(f"audit restored: enabled {now.enabled} backlog_limit {now.backlog_limit} "
                      f"wait {now.backlog_wait_time}, godo rules left {left}", flush=True)
    ok = report(samples, args.iterations)
    if args.profile and samples["godo"]:
        print_profile(Path(args.profile))
    return 0 if ok else 1


def print_profile(path: Path, top: int = 20) -> None:
    import pstats
    print(f"\nwhere godo's CPU time went (last run, cProfile by CPU time; {path}):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
