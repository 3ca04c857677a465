"""Live recording: the kernel's stream through the pipeline and the tracker into
the store, until the command ends or godo is told to stop.

`godo record -- CMD` gives CMD an audit session of its own (it writes its
loginuid, which makes the kernel hand out a new session id) and limits every
rule to that session, so the kernel drops everything else before sending it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..localtime import local_time
from ..paths import run_dir
from ..source import rules as rules_mod
from ..source.rawlog import RawLog, frames_to_lines
from ..source.session import AuditSession, wait_for_marker
from ..tracker import Scope
from ..tracker.procfs import boot_ticks
from .command import Command, check_command
from .gc_pace import RareFullCollections
from .report import RunReport, why_interrupted
from .wiring import Run

if TYPE_CHECKING:
    from ..store.protocol import Store
    from ..tracker import Tracker

_TICK = 0.5
# Pressure on the live stream (see _Gauge): full batches in a row (4 of 256 slots
# is 1024 records that were waiting), the kernel's backlog, looked at every _PROBE s.
_FULL_BATCHES = 4
_BACKLOG_PRESSURE = 1024
_PROBE = 0.1
# After a batch that did not fill every slot, the live thread lets the stream
# gather this long before it looks again: a storm then comes in batches of a
# millisecond's records (~256 at 300k records/s) instead of a wakeup, a poll and a
# pass through the pipeline and the tracker for every dozen; a lone record waits
# at most this long. The socket buffer (64 MiB) holds ~100,000 times as much.
_GATHER = 0.001
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop:
    """Signals become a flag the loop reads; the loop then winds down cleanly."""

    def __init__(self):
        self.requested = 0
        self.child = None
        self.on_stop = None
        self._old = {}

    def install(self):
        for signum in _STOP_SIGNALS:
            self._old[signum] = signal.signal(signum, self._handle)

    def restore(self):
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        self._old.clear()

    def keep_running_on_hup(self, daemon: bool, raw) -> None:
        """SIGUSR1 rotates the raw log, as it does auditd's log (and is ignored
        without one, not fatal). A daemon's SIGHUP reloads instead of stopping: what a
        run can take anew is its raw log, reopened; its rules, scope and store stay
        as they started (a restart changes them). `record -- CMD` ends on SIGHUP."""
        handlers = {signal.SIGUSR1: lambda *_: raw is not None and raw.request_rotate()}
        if daemon:
            handlers[signal.SIGHUP] = lambda *_: raw is not None and raw.request_reopen()
        for signum, handler in handlers.items():
            old = signal.signal(signum, handler)
            self._old.setdefault(signum, old)

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


class RecordOptions:
    """What a live run is told: `scope`, `on_ready`, and one attribute per row of
    the settings table whose target is "record" (godo/settings_table.py:
    `multicast`, `backlog` ...), its default unless given."""

    def __init__(self, scope: Scope | None = None, on_ready: Callable[[], None] | None = None,
                 **settings) -> None:
        from ..settings_table import defaults
        made = defaults("record")
        unknown = set(settings) - set(made)
        if unknown:
            raise TypeError(f"RecordOptions: no setting {', '.join(sorted(unknown))}")
        made.update(settings)
        self.__dict__.update(made)
        self.scope = scope if scope is not None else Scope()
        # Called once every rule is in and the stream is godo's: from then on nothing
        # in scope is missed. The CLI says "recording" and tells systemd it is ready.
        self.on_ready = on_ready


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


class _Gauge:
    """Whether the live stream is under pressure, from what the live loop sees: the
    receiver handing over full batches (every slot filled: more was waiting)
    `full_batches` times in a row, or the kernel holding `backlog` records for godo
    (its socket buffer is full) when last asked. Each batch goes to the tracker,
    and on to the store, `dense` while it is: the store then holds its own work
    back. A process starting makes a burst of a few full batches; a storm makes
    them without end."""

    def __init__(self, slots: int, full_batches: int = _FULL_BATCHES,
                 backlog: int = _BACKLOG_PRESSURE):
        self.slots = slots
        self.full_batches = full_batches
        self.backlog = backlog
        self.full = 0
        self.queue_full = False

    def received(self, datagrams: int) -> None:
        self.full = self.full + 1 if datagrams >= self.slots else 0

    def queued(self, backlog: int) -> None:
        self.queue_full = backlog >= self.backlog

    @property
    def dense(self) -> bool:
        return self.full >= self.full_batches or self.queue_full


class Recorder:
    """One live run: the kernel's stream through the pipeline into the store."""

    def __init__(self, store: Store, data_dir: Path, options: RecordOptions):
        self.store = store
        self.data_dir = data_dir
        self.options = options
        self.active: Run | None = None  # the run, made once audit is on and its scope known
        self._raw = None
        self._stop = _Stop()
        # A write waiting for room in a full spill journal gives up once godo is
        # told to stop (counted as dropped), so that SIGTERM always ends the run.
        self._stop.on_stop = store.interrupt

    def run(self, command: list[str] | None = None) -> RunReport:
        opts = self.options
        scope = opts.scope
        cmd = None
        self._stop.install()
        try:
            if command:
                check_command(command)  # said before audit is touched
            if opts.raw_log:
                self._raw = RawLog(opts.raw_log, keep=opts.raw_log_keep,
                                   max_bytes=opts.raw_log_max_mb << 20)
            self._stop.keep_running_on_hup(not command, self._raw)
            # Audit goes on before CMD is forked: a task forked while audit was never
            # enabled since boot is never audited (see source/coverage.py).
            with AuditSession(run_dir() / "audit-session.json", multicast=opts.multicast,
                              backlog_limit=opts.backlog,
                              backlog_wait_time=opts.backlog_wait) as session:
                if command:
                    cmd = Command(command)
                    scope = Scope("command", cmd.pid)
                run = self.active = Run(self.store, "multicast" if opts.multicast else "unicast",
                                     scope, command=command, live=True,
                                     checkpoint_interval=opts.checkpoint_interval)
                report, tracker = run.report, run.tracker
                report.coverage = session.coverage.document()
                report.audit_enabled_at = session.enabled_at
                unaudited_before = session.coverage.ticks  # None where no moment is known
                if cmd is not None:
                    tracker.adopt_command(cmd.pid, cmd.started, command, cmd.inherited)
                    self._stop.child = cmd.pid
                else:
                    tracker.seed_from_proc(unaudited_before=unaudited_before)
                report.lost_start = session.found.lost
                arch = rules_mod.native_arch()
                exclude = {os.getpid()} | set(opts.exclude_pids) | set(self.store.server_pids)
                rules = rules_mod.build_rules(arch, exclude_pids=exclude,
                                              session=cmd.session if cmd else None)
                report.session = cmd.session if cmd else None
                report.rules = [rules_mod.describe(r, arch) for r in rules]
                run.record()
                rules_begin = boot_ticks()
                session.add_rules(rules)
                # A stop signal before recording began cuts any run short; after
                # it, it is how a daemon ends, but it cuts a command short.
                if cmd is not None:
                    # Read before CMD goes: a signal CMD itself sends godo comes after.
                    stopped_early = self._stop.requested
                    cmd.go()
                else:
                    # What started while /proc was read and the rules went in is in
                    # neither: look again for it.
                    tracker.seed_from_proc(started_before=rules_begin,
                                           unaudited_before=unaudited_before)
                    stopped_early = self._stop.requested
                if opts.on_ready is not None:
                    opts.on_ready()
                if cmd is None:
                    _warn_unaudited(tracker, session.coverage)
                with _Boost(opts.priority_boost) as boost, RareFullCollections():
                    report.priority_boost = boost.applied
                    self._loop(session, cmd)
                    # Everything the kernel queued before this marker is ours: wait for it.
                    session.remove_rules()
                    marker = session.send_drain_marker()
                    report.drained = wait_for_marker(session, marker, self._batch)
                signum = stopped_early or (self._stop.requested if cmd is not None else 0)
                if signum:
                    report.interrupted = why_interrupted(signum=signum, early=bool(stopped_early))
                report.lost_end = session.lost()
                report.received = session.receiver.datagrams
                report.overruns = session.receiver.overruns
                report.batches = session.receiver.calls
            return run.finish(command=cmd)
        except BaseException as exc:
            if cmd is not None and cmd.status is None:
                cmd.abandon()
            if self.active is not None:
                self.active.interrupt(exc)
            raise
        finally:
            self._stop.restore()
            if self._raw is not None:
                self._raw.close()

    def _loop(self, session: AuditSession, cmd: Command | None) -> None:
        run = self.active
        receiver = session.receiver
        slots = session.receive_slots
        gauge = _Gauge(slots)
        # In multicast mode the kernel's backlog is the audit daemon's, not godo's.
        probe = not self.options.multicast
        now = time.monotonic()
        next_tick, next_probe = now + _TICK, now + _PROBE
        while True:
            before = receiver.datagrams
            batch = receiver.receive(100)
            got = receiver.datagrams - before
            gauge.received(got)
            if batch or gauge.dense:
                self._batch(batch, gauge.dense)
            now = time.monotonic()
            if probe and now >= next_probe:
                next_probe = now + _PROBE
                gauge.queued(session.status().backlog)
            if now >= next_tick:
                next_tick = now + _TICK
                run.tick(now, time.time())
            if cmd is not None:
                if cmd.wait():
                    return
            elif self._stop.requested:
                return
            if 0 < got < slots:
                time.sleep(_GATHER)

    def _batch(self, batch: bytes, dense: bool = False) -> None:
        if self._raw is not None and batch:
            self._raw.write(frames_to_lines(batch))
        self.active.feed_frames(batch, time.monotonic(), dense)


_NAMED = 5  # processes a warning names; the rest are counted


def _warn_unaudited(tracker: Tracker, coverage) -> None:
    """One line on stderr when processes in scope run unseen by audit: they started
    before its first enable of this boot (see source/coverage.py)."""
    from ..cli.output import shown
    from ..source.coverage import UNKNOWN
    seeded = [p for p in tracker.procs.values() if p.in_scope and p.seeded]
    if coverage.kind == UNKNOWN and seeded:
        print("godo: audit was enabled on this boot before godo looked, by another program "
              "(no audit=1 at boot): processes already running may not be audited; boot with "
              "audit=1 to be sure", file=sys.stderr)
        return
    blind = sorted((p for p in seeded if not p.audited), key=lambda p: p.pid)
    if not blind:
        return
    names = ", ".join(f"{p.pid} {shown(p.comm or '?')}" for p in blind[:_NAMED])
    more = f" and {len(blind) - _NAMED} more" if len(blind) > _NAMED else ""
    since = local_time(coverage.time)
    print(f"godo: {len(blind)} process{'es' if len(blind) != 1 else ''} in scope started before "
          f"audit was first enabled on this boot ({since}) and cannot be audited: {names}{more}; "
          "boot with audit=1 to record them", file=sys.stderr)
