"""Live recording and log replay: source -> pipeline -> tracker -> store.

`godo record -- CMD` gives CMD an audit session of its own (it writes its
loginuid, which makes the kernel hand out a new session id) and limits every
rule to that session, so the kernel drops everything else before sending it.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from . import __version__
from . import rules as rules_mod
from . import syscalls
from .errors import GodoError
from .hotpath import MODE, Pipeline
from .paths import boot_id, hostname, run_dir
from .rawlog import frames_to_lines
from .source import AuditSession, LogSource, wait_for_marker
from .tracker import Scope, Tracker, boot_ticks, proc_fds, utc

_UNSET_LOGINUID = 4294967295
_TICK = 0.5
# Pressure on the live stream (see _Gauge): full batches in a row (16 of 64 slots
# is 1024 records that were waiting), the kernel's backlog, looked at every _PROBE s.
_FULL_BATCHES = 16
_BACKLOG_PRESSURE = 1024
_PROBE = 0.1


@dataclass
class RunReport:
    """What one run saw, for the summary and the `runs` document."""

    run_id: str
    host: str
    started: float
    mode: str
    scope: str
    command: list[str] | None = None
    ended: float | None = None
    exit_status: int | None = None
    lost_start: int | None = None
    lost_end: int | None = None
    rules: list[str] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)
    tracker: dict = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    session: int | None = None
    drained: bool | None = None
    received: int | None = None     # datagrams taken from the kernel (live runs)
    overruns: int = 0               # ENOBUFS seen by the receiver
    priority_boost: int = 0         # how much nicer the live thread ran (0: as started)

    def loss(self) -> dict:
        """godo's own losses, each counted two ways at a stage boundary, so a figure
        above 0 means something was lost inside godo (the kernel's are `lost`):
          records     datagrams received, less records parsed and refused as malformed
          activities  activities cooked, less activities the tracker applied
          mutations   document writes queued, less acknowledged and still waiting
                      (in memory or in the spill journal), counted by the store
          dropped     document writes the store gave up on, neither written nor
                      journaled (the journal full when godo was told to stop)
        A document the database refuses for good is `store.rejected`, with its reason."""
        pipe, store = self.pipeline, self.store
        records = 0
        if self.received is not None:
            records = max(0, self.received - pipe.get("records", 0) - pipe.get("malformed", 0))
        activities = max(0, pipe.get("activities", 0) - self.tracker.get("activities", 0))
        mutations = max(0, store.get("unaccounted", 0) or 0)
        dropped = store.get("dropped", 0) or 0
        return {"records": records, "activities": activities, "mutations": mutations,
                "dropped": dropped, "total": records + activities + mutations + dropped}

    @property
    def lost(self) -> int | None:
        if self.lost_start is None or self.lost_end is None:
            return None
        return (self.lost_end - self.lost_start) & 0xFFFFFFFF

    def document(self) -> dict:
        loss = self.loss()
        return {
            "_id": self.run_id, "host": self.host, "boot_id": boot_id(),
            "started": utc(self.started), "ended": utc(self.ended),
            "status": "running" if self.ended is None else "finished",
            "mode": self.mode, "scope": self.scope, "command": self.command,
            "exit_status": self.exit_status, "godo": __version__, "hotpath": MODE,
            "rules": self.rules, "kernel_lost_start": self.lost_start,
            "kernel_lost_end": self.lost_end, "kernel_lost": self.lost,
            "records": self.pipeline.get("records", 0), "events": self.pipeline.get("events", 0),
            "activities": self.pipeline.get("activities", 0),
            "malformed": self.pipeline.get("malformed", 0),
            "serial_gaps": self.pipeline.get("serial_gaps", 0),
            "processes": self.tracker.get("processes", 0), "files": self.tracker.get("files", 0),
            "store": self.store, "errors": self.errors[:100], "audit_session": self.session,
            "drained": self.drained, "received": self.received, "overruns": self.overruns,
            "priority_boost": self.priority_boost,
            "godo_lost": loss["total"], "loss": loss,
        }


def new_run(mode: str, scope: Scope, command=None) -> RunReport:
    host = hostname()
    return RunReport(f"{host}:{time.strftime('%Y%m%dT%H%M%S')}:{uuid.uuid4().hex[:8]}", host,
                     time.time(), mode, scope.describe(), command)


class _Stop:
    """Signals become a flag the loop reads; the loop then winds down cleanly."""

    def __init__(self):
        self.requested = 0
        self.child = None
        self.on_stop = None
        self._old = {}

    def install(self):
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[signum] = signal.signal(signum, self._handle)

    def restore(self):
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        self._old.clear()

    def _handle(self, signum, _frame):
        self.requested = signum
        if self.on_stop is not None:
            self.on_stop()
        if self.child:
            # The command ends the run: pass the signal on (Ctrl-C from a terminal
            # reaches it twice, which programs treat as once).
            try:
                os.kill(self.child, signum)
            except ProcessLookupError:
                pass


class _Command:
    """CMD forked with its own audit session, held before exec until the rules
    that select that session are in."""

    def __init__(self, argv: list[str]):
        if not argv:
            raise GodoError("no command given after --")
        if shutil.which(argv[0]) is None:
            raise GodoError(f"command not found: {argv[0]}")
        self.argv = argv
        # What the command inherits: godo's stdio (everything else godo opens is
        # close-on-exec).
        self.inherited = {fd: path for fd, path in proc_fds("self").items() if fd <= 2}
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: only plain syscalls until exec
            try:
                # The command's own dispositions from the start: a signal godo passes
                # on before the exec ends it, as it would end the command.
                for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                os.close(ready_r)
                os.close(go_w)
                os.write(ready_w, _new_audit_session())
                os.close(ready_w)
                os.read(go_r, 1)
                os.close(go_r)
                os.execvp(argv[0], argv)
            except BaseException as exc:  # noqa: BLE001 - the child must never return
                os.write(2, f"godo: cannot run {argv[0]}: {exc}\n".encode())
            os._exit(127)
        self.started = time.time()
        os.close(ready_w)
        os.close(go_r)
        answer = os.read(ready_r, 64)
        os.close(ready_r)
        self.session = int(answer) if answer.strip().isdigit() else None
        self._go = go_w
        self.status: int | None = None

    def go(self) -> None:
        try:
            os.write(self._go, b"g")
        except BrokenPipeError:
            pass  # it died before its exec (a signal passed on): the loop sees it gone
        os.close(self._go)
        self._go = None

    def abandon(self) -> None:
        if self._go is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.close(self._go)
            self._go = None
        self.wait(block=True)

    def wait(self, block: bool = False) -> bool:
        if self.status is not None:
            return True
        pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.status = os.waitstatus_to_exitcode(status)
        if self.status < 0:
            self.status = 128 - self.status  # killed by a signal: the shell's convention
        return True


def _new_audit_session() -> bytes:
    """Write our loginuid (the same one, or our uid when unset) so the kernel gives
    this process a fresh audit session id; returns it, or b"-" if not allowed."""
    try:
        with open("/proc/self/loginuid") as f:
            loginuid = int(f.read())
        if loginuid == _UNSET_LOGINUID:
            loginuid = os.getuid()
        with open("/proc/self/loginuid", "w") as f:
            f.write(str(loginuid))
        with open("/proc/self/sessionid") as f:
            return f.read().strip().encode()
    except (OSError, ValueError):
        return b"-"


def local_server_pids(uri: str | None) -> set[int]:
    """The pids listening on a loopback database address: their own syscalls
    (writing what godo sends them) must not be audited."""
    if not uri:
        return set()
    try:
        parts = urlsplit(uri)
        hosts = parts.netloc.rsplit("@", 1)[-1].split(",")
    except ValueError:
        return set()
    ports = set()
    for host in hosts:
        if host.startswith("["):  # [::1]:27017
            name, _, port = host[1:].partition("]")
            port = port.lstrip(":")
        else:
            name, _, port = host.partition(":")
        if name in ("localhost", "::1") or name.startswith("127."):
            ports.add(int(port) if port.isdigit() else 27017)
    return _pids_listening(ports) if ports else set()


def _pids_listening(ports: set[int]) -> set[int]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) in ports:
                inodes.add(cols[9])
    pids = set()
    if not inodes:
        return pids
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                    pids.add(int(entry))
                    break
        except OSError:
            continue
    return pids


@dataclass
class RecordOptions:
    scope: Scope = field(default_factory=Scope)
    multicast: bool = False
    backlog_limit: int = 65536
    backlog_wait_time: int = 0
    raw_log: str | None = None
    exclude_pids: set[int] = field(default_factory=set)
    checkpoint_interval: float = 30.0
    # The live thread runs this much nicer than godo was started (as auditd's
    # priority_boost, whose default is also 4): when the CPUs are short, the kernel's
    # stream is read first. 0 leaves the priority alone.
    priority_boost: int = 4
    # Called once every rule is in and the stream is godo's: from then on nothing
    # in scope is missed. The CLI says "recording" and tells systemd it is ready.
    on_ready: Callable[[], None] | None = None


class _Boost:
    """The calling thread's nice value lowered by `boost` for the `with` block, then
    put back: Linux keeps a nice value per thread, so godo's other threads (the store
    writer) and its children keep theirs."""

    def __init__(self, boost: int):
        self.boost = boost
        self.tid = threading.get_native_id()
        self.old: int | None = None
        self.applied = 0

    def __enter__(self):
        if self.boost > 0:
            try:
                self.old = os.getpriority(os.PRIO_PROCESS, self.tid)
                new = max(-20, self.old - self.boost)
                os.setpriority(os.PRIO_PROCESS, self.tid, new)
                self.applied = self.old - new
            except OSError:
                self.old = None  # not allowed (no CAP_SYS_NICE): run as started
        return self

    def __exit__(self, *exc) -> None:
        if self.old is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self.tid, self.old)
            except OSError:
                pass


class _RareFullCollections:
    """Python's full garbage collections made rare for the `with` block, then the
    thresholds put back. While the store holds documents back, its inbox grows by a
    dict a document, and every full collection, which the interpreter runs each
    time the old generation grew by a quarter, walks all of them on the live thread
    (measured on the storm: a quarter of the tracker's time). What godo allocates
    makes few cycles, and the young generations are still collected as before."""

    def __init__(self, threshold2: int = 1000):
        self.threshold2 = threshold2
        self.old = None

    def __enter__(self):
        self.old = gc.get_threshold()
        gc.set_threshold(self.old[0], self.old[1], max(self.old[2], self.threshold2))
        return self

    def __exit__(self, *exc) -> None:
        gc.set_threshold(*self.old)


class _Gauge:
    """Whether the live stream is under pressure, from what the live loop sees: the
    receiver handing over full batches (every slot filled: more was waiting)
    `full_batches` times in a row, or the kernel holding `backlog` records for godo
    (its socket buffer is full). Then it calls `signal(now)`: the store holds its
    work back (MongoStore.pressure). A process starting makes a burst of a few
    full batches; a storm makes them without end."""

    def __init__(self, signal, slots: int, full_batches: int = _FULL_BATCHES,
                 backlog: int = _BACKLOG_PRESSURE):
        self.signal = signal
        self.slots = slots
        self.full_batches = full_batches
        self.backlog = backlog
        self.full = 0

    def received(self, datagrams: int, now: float) -> None:
        if datagrams < self.slots:
            self.full = 0
            return
        self.full += 1
        if self.full >= self.full_batches and self.signal is not None:
            self.signal(now)

    def queued(self, backlog: int, now: float) -> None:
        if backlog >= self.backlog and self.signal is not None:
            self.signal(now)


class Recorder:
    """One live run: the kernel's stream through the pipeline into the store."""

    def __init__(self, store, data_dir: Path, options: RecordOptions):
        self.store = store
        self.data_dir = data_dir
        self.options = options
        self.pipeline = Pipeline()
        self.tracker: Tracker | None = None
        self.report: RunReport | None = None
        self._raw = None
        self._stop = _Stop()
        # A write waiting for room in a full spill journal gives up once godo is
        # told to stop (counted as dropped), so that SIGTERM always ends the run.
        self._stop.on_stop = getattr(store, "interrupt", None)

    def run(self, command: list[str] | None = None) -> RunReport:
        opts = self.options
        scope = opts.scope
        cmd = None
        self._stop.install()
        try:
            if command:
                cmd = _Command(command)
                scope = Scope("command", cmd.pid)
            report = self.report = new_run("multicast" if opts.multicast else "unicast", scope, command)
            self.tracker = Tracker(self.store, host=report.host, boot_id=boot_id(), scope=scope,
                                   run=report.run_id, live=True,
                                   checkpoint_interval=opts.checkpoint_interval)
            if cmd is not None:
                self.tracker.adopt_command(cmd.pid, cmd.started, command, cmd.inherited)
                self._stop.child = cmd.pid
            else:
                self.tracker.seed_from_proc()
            if opts.raw_log:
                self._raw = open(opts.raw_log, "ab")
            with AuditSession(run_dir() / "audit-session.json", multicast=opts.multicast,
                              backlog_limit=opts.backlog_limit,
                              backlog_wait_time=opts.backlog_wait_time) as session:
                report.lost_start = session.found.lost
                arch = syscalls.native_arch()
                exclude = {os.getpid()} | set(opts.exclude_pids) | set(getattr(self.store, "server_pids", ()))
                rules = rules_mod.build_rules(arch, exclude_pids=exclude,
                                              session=cmd.session if cmd else None)
                report.session = cmd.session if cmd else None
                report.rules = [rules_mod.describe(r, arch) for r in rules]
                self.store.write([("runs", report.document())])
                rules_begin = boot_ticks()
                session.add_rules(rules)
                if cmd is not None:
                    cmd.go()
                else:
                    # What started while /proc was read and the rules went in is in
                    # neither: look again for it.
                    self.tracker.seed_from_proc(started_before=rules_begin)
                if opts.on_ready is not None:
                    opts.on_ready()
                with _Boost(opts.priority_boost) as boost, _RareFullCollections():
                    report.priority_boost = boost.applied
                    self._loop(session, cmd)
                    # Everything the kernel queued before this marker is ours: wait for it.
                    session.remove_rules()
                    marker = session.send_drain_marker()
                    report.drained = wait_for_marker(session, marker, self._batch)
                report.lost_end = session.lost()
                report.received = session.receiver.datagrams
                report.overruns = session.receiver.overruns
            if cmd is not None:
                report.exit_status = cmd.status
            self._finish()
            return report
        except BaseException:
            if cmd is not None and cmd.status is None:
                cmd.abandon()
            raise
        finally:
            self._stop.restore()
            if self._raw is not None:
                self._raw.close()

    def _loop(self, session: AuditSession, cmd: _Command | None) -> None:
        receiver = session.receiver
        gauge = _Gauge(getattr(self.store, "pressure", None), session.receive_slots)
        # In multicast mode the kernel's backlog is the audit daemon's, not godo's.
        probe = gauge.signal is not None and not self.options.multicast
        now = time.monotonic()
        next_tick, next_probe = now + _TICK, now + _PROBE
        while True:
            before = receiver.datagrams
            batch = receiver.receive(100)
            if batch:
                self._batch(batch)
            now = time.monotonic()
            gauge.received(receiver.datagrams - before, now)
            if probe and now >= next_probe:
                next_probe = now + _PROBE
                gauge.queued(session.status().backlog, now)
            if now >= next_tick:
                next_tick = now + _TICK
                wall = time.time()
                self._activities(self.pipeline.expire(now))
                self.tracker.tick(wall)
            if cmd is not None:
                if cmd.wait():
                    return
            elif self._stop.requested:
                return

    def _batch(self, batch: bytes) -> None:
        if self._raw is not None:
            self._raw.write(frames_to_lines(batch))
        self._activities(self.pipeline.feed_frames(batch, time.monotonic()))

    def _activities(self, activities: list) -> None:
        if activities:
            self.tracker.process(activities)

    def _finish(self) -> None:
        report = self.report
        self._activities(self.pipeline.flush())
        self.tracker.finish(time.time())
        report.ended = time.time()
        report.pipeline = self.pipeline.stats()
        report.tracker = dict(self.tracker.counts)
        report.errors = [f"{where}: {what}" for where, what in self.pipeline.errors]
        _final_document(self.store, report)


def replay(path: str, store, *, scope: Scope = Scope("host"), on_activities=None,
           progress=None) -> RunReport:
    """Read an audit.log (RAW or ENRICHED, plain or gzip) through the pipeline."""
    source = LogSource(path)
    report = new_run("replay", scope, [path])
    tracker = Tracker(store, host=report.host, boot_id=boot_id(), scope=scope, run=report.run_id)
    pipeline = Pipeline()
    name = os.path.basename(path)
    store.write([("runs", report.document())])
    last_ts = report.started
    read_error = None
    try:
        for chunk in source.chunks():
            activities = tracker.process(pipeline.feed_log(chunk, name))
            if activities:
                last_ts = activities[-1].ts
                if on_activities is not None:
                    on_activities(activities)
            if progress is not None:
                progress(len(chunk), pipeline.records)
    except GodoError as exc:
        # A file cut short (a truncated gzip) or unreadable part way: what was read
        # is kept and recorded, and the error is reported once the run is written.
        read_error = exc
    activities = tracker.process(pipeline.flush())
    if activities and on_activities is not None:
        on_activities(activities)
    tracker.finish(activities[-1].ts if activities else last_ts)
    report.ended = time.time()
    report.pipeline = pipeline.stats()
    report.tracker = dict(tracker.counts)
    report.errors = [f"{where}: {what}" for where, what in pipeline.errors]
    if read_error is not None:
        report.errors.append(str(read_error))
    _final_document(store, report)
    if read_error is not None:
        raise read_error
    return report


def _final_document(store, report: RunReport, settle: float = 5.0) -> None:
    """Write the run's document; then, once the database has taken everything
    before it (or has made no progress for `settle` seconds), write it again with
    the store's figures as they stand, so the document says what was saved."""
    report.store = store.stats() if hasattr(store, "stats") else {}
    store.write([("runs", report.document())])
    if hasattr(store, "settle"):
        store.settle(settle)
        report.store = store.stats()
        store.write([("runs", report.document())])
