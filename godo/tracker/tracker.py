"""The tracker: turns batches of activities into the documents users query.

It keeps a shadow process table (seeded from /proc at start) and, for processes in
scope, their fd tables. A process is known by (host, boot, pid, start time), so
a reused pid never inherits another process's parent or files. Documents leave
memory once handed to the store: a process when it exits, an open file when its
last descriptor closes; long-lived ones are checkpointed.

Composed of parts that own their state: `Files` (files.py: fd tables, open files)
and `Containers` (containers.py: attribution, the containers seen). The tracker
owns the process table and the batch's outbox, and resolves the process of each
activity before a part handles it.
"""

from __future__ import annotations

import os
import signal

# Fellow parts by `.`, shared modules by `..tracker`: compiled, this file is
# godo._tracker_c.tracker, whose fellows are compiled too (setup.py).
from ..fds import open_fds
from ..tracker import procfs
from ..tracker.scope import Scope
from .containers import Containers
from .files import Files
from .model import Context, Process, utc
from .paths import join, real_exe

_MAX_CHILDREN = 10_000
_MAX_FS_OPS = 256
_MAX_PENDING_SPAWNS = 65_536
_RECENT_ENDS = 4096  # ended pids remembered, for spawn records that arrive late
# The kinds the tracker handles, numbered: process() looks an activity's kind up
# once (its name, interned) and, compiled, tells the numbers apart in C.
(_OPEN, _CLOSE, _WRITE, _FS_OP, _DUP, _CLOEXEC, _EXEC, _SPAWN, _EXIT, _CHDIR, _KILL,
 _PIVOT_ROOT) = range(1, 13)
_KIND_NUMBERS = {"open": _OPEN, "close": _CLOSE, "write": _WRITE, "unlink": _FS_OP,
                 "rename": _FS_OP, "dup": _DUP, "cloexec": _CLOEXEC, "exec": _EXEC,
                 "spawn": _SPAWN, "exit": _EXIT, "chdir": _CHDIR, "kill": _KILL,
                 "pivot_root": _PIVOT_ROOT}
# The signals whose default action ends a process: a kill with one of these before
# a process vanishes without an exit record says how it ended.
_FATAL_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGILL,
                            signal.SIGABRT, signal.SIGFPE, signal.SIGKILL, signal.SIGSEGV,
                            signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM})


class Tracker:
    """Activities in, document mutations out (handed to `store.write` per batch):
    each names its collection and the process, open file or container whose
    document the store makes when it encodes it."""

    def __init__(self, store, *, host: str, boot_id: str, scope: Scope = Scope(),
                 run: str | None = None, live: bool = False, checkpoint_interval: float = 30.0):
        self.store = store
        self.host = host
        self.boot = boot_id
        self.scope = scope
        self.run = run
        self.live = live
        self.checkpoint_interval = checkpoint_interval
        self._ctx = Context(host, boot_id, run)
        self.procs: dict[int, Process] = {}
        self._pending: dict[int, tuple] = {}  # child pid -> (parent pid, ts, fds, clone3)
        self._signalled: dict[int, int] = {}
        self._command: Process | None = None  # the root of `godo record -- CMD`
        self._recent_ends: dict[int, tuple[int, float]] = {}
        self._out: list = []
        self._last_checkpoint = None
        self.last_ts: float | None = None  # the audit time of the last activity
        # The files closed are the file part's to count (`Files.closed`): see `counts`.
        self._counts = {"activities": 0, "out_of_scope": 0, "processes": 0,
                        "pid_reuse": 0, "gone": 0, "unaudited": 0}
        self._files = Files(self._out, live)
        self._boxes = Containers(self.procs, self._counts, scope, self._ctx, live)
        self.containers = self._boxes.containers  # the containers seen, by id

    @property
    def counts(self) -> dict:
        """What the run saw: activities, processes and files documented, those out
        of scope, pids reused, processes gone without an exit, and never audited."""
        return {**self._counts, "files": self._files.closed}

    # -- ids --------------------------------------------------------------------

    def _proc_id(self, pid: int, start: float) -> str:
        return f"{self.host}:{self.boot[:8]}:{pid}:{int(start * 1000)}"

    # -- the batch entry point ----------------------------------------------------

    def process(self, activities: list, *, dense: bool = False) -> None:
        """Apply one batch; hand its document mutations to the store in one call.
        `dense`: the live stream is under pressure, which the store is told with
        the batch (it holds its own work back then)."""
        for act in activities:
            # Each kind to its handler, the commonest first.
            kind = _KIND_NUMBERS.get(act.kind, 0)
            if kind == _OPEN:
                self._open(act)
            elif kind == _CLOSE:
                self._close(act)
            elif kind == _WRITE:
                self._write(act)
            elif kind == _FS_OP:
                self._fs_op(act)
            elif kind == _DUP:
                self._dup(act)
            elif kind == _CLOEXEC:
                self._set_cloexec(act)
            elif kind == _EXEC:
                self._exec(act)
            elif kind == _SPAWN:
                self._spawn(act)
            elif kind == _EXIT:
                self._exit(act)
            elif kind == _CHDIR:
                self._chdir(act)
            elif kind == _KILL:
                self._kill(act)
            elif kind == _PIVOT_ROOT:
                self._pivot_root(act)
        self._counts["activities"] += len(activities)
        if activities:
            self.last_ts = activities[-1].ts
        self._emit(dense)

    def record_run(self, document: dict) -> None:
        """The run's own document, written in order with the rest: the tracker is
        the one producer of what the store writes."""
        self._out.append(("runs", document))
        self._emit()

    def _emit(self, dense: bool = False) -> None:
        if self._out or dense:
            out = self._out.copy()  # the list itself stays: the parts hold it
            self._out.clear()
            self.store.write(out, dense=dense)

    # -- processes ------------------------------------------------------------------

    def _get(self, act) -> Process:
        """The process an activity comes from, created from what the record says
        when it is new to us (its spawn record may still be on its way)."""
        proc = self.procs.get(act.pid)
        if self._pending:
            spawn = self._pending.get(act.pid)
            if spawn is not None and (spawn[0] == act.ppid or (proc is None and spawn[0] not in self.procs)
                                      or self._cloned_parent(spawn[0], act.ppid)):
                return self._materialise(act, proc, spawn)
        if proc is not None and act.ppid != proc.ppid and proc.ppid in self.procs:
            # Another parent, while the one we know is alive: no reparenting (that
            # needs the parent gone), so the pid was reused and the old holder's
            # exit never reached us (it ended before the rules were in, or its
            # record was lost). A vfork child's records come before its parent's
            # vfork record, so this is the only place that can tell.
            self._counts["pid_reuse"] += 1
            self._end(proc, act.ts, "gone")
            proc = None
        if proc is None:
            proc = self._new_process(act.pid, act.ppid, self.procs.get(act.ppid), act.ts)
            self._take_task(proc, act)
        return proc

    def _take_task(self, proc: Process, act) -> None:
        """What a SYSCALL record says of the process it came from: its names and ids."""
        proc.comm, proc.exe, proc.uid, proc.auid = act.comm, real_exe(act.exe, proc.exe), act.uid, act.auid
        proc.euid, proc.suid, proc.gid, proc.egid = act.euid, act.suid, act.gid, act.egid
        proc.ses, proc.tty = act.ses, act.tty
        if act.names is not None:
            proc.names = act.names

    def _cloned_parent(self, cloner_pid: int, ppid: int) -> bool:
        """clone(CLONE_PARENT) makes the child its cloner's sibling (runc init's
        stages do): its records name the cloner's parent."""
        cloner = self.procs.get(cloner_pid)
        return cloner is not None and cloner.ppid == ppid

    def _materialise(self, act, old: Process | None, spawn) -> Process:
        """A spawned child showed up under its own pid: now it is a process."""
        cloner_pid, ts, snapshot, clone3 = spawn
        del self._pending[act.pid]
        cloner = self.procs.get(cloner_pid)
        parent = cloner if cloner_pid == act.ppid else self.procs.get(act.ppid, cloner)
        if clone3 and cloner is not None and cloner.threads > 0:
            cloner.threads -= 1       # it was no thread after all
        if old is not None:
            # The pid was reused: whatever had it is gone.
            self._counts["pid_reuse"] += 1
            self._end(old, ts, "gone")
        proc = self._new_process(act.pid, act.ppid, parent, ts, snapshot)
        if cloner is not None and cloner is not parent:
            # A copy of the cloner, whoever its parent is.
            proc.exe, proc.argv, proc.cwd = cloner.exe, cloner.argv, cloner.cwd
            proc.argv_cut = cloner.argv_cut
        self._take_task(proc, act)
        return proc

    def _new_process(self, pid: int, ppid: int, parent: Process | None, start: float,
                     snapshot=None) -> Process:
        proc = Process(self._proc_id(pid, start), pid, ppid, parent.id if parent else None, start,
                       self._ctx)
        if parent is not None:
            proc.comm, proc.exe, proc.argv, proc.cwd = parent.comm, parent.exe, parent.argv, parent.cwd
            proc.argv_cut = parent.argv_cut
            proc.uid, proc.auid, proc.root = parent.uid, parent.auid, parent.root
            proc.euid, proc.suid, proc.gid, proc.egid = parent.euid, parent.suid, parent.gid, parent.egid
            proc.ses, proc.tty, proc.names = parent.ses, parent.tty, parent.names
            self._link(parent, proc)
        self.procs[pid] = proc
        proc.in_scope = self._in_scope(proc, parent)
        if proc.in_scope:
            self._counts["processes"] += 1
            proc.fds, proc.cloexec = {}, set()
            if snapshot is not None:
                # fork shares every open file description the parent held at the
                # fork with the child. One that every other holder has closed since
                # (before this child's first record came) was not closed after all:
                # it is open again, and its document is written again at its close.
                proc.fds, proc.cloexec = dict(snapshot[0]), set(snapshot[1])
                for open_file in proc.fds.values():
                    if open_file.closed is not None:
                        open_file.closed = None
                        self._files.closed -= 1
            elif parent is not None and parent.fds is not None:
                proc.fds = dict(parent.fds)
                proc.cloexec = set(parent.cloexec)
            for open_file in proc.fds.values():
                open_file.refs += 1
            self._boxes.count(proc, start, 1)
        return proc

    def _in_scope(self, proc: Process, parent: Process | None) -> bool:
        kind = self.scope.kind
        if kind == "host":
            return True
        if kind == "containers":
            return proc.container is not None
        if proc.pid == self.scope.root_pid:
            return True
        return parent is not None and parent.in_scope

    def _spawn(self, act) -> None:
        parent = self._get(act)
        child = act.child
        if act.thread:
            parent.threads += 1
            return
        ended = self._recent_ends.get(child)
        if ended is not None and ended[0] == parent.pid and ended[1] >= act.ts - 1.0:
            # vfork: the child ran, and maybe ended, before the parent's clone
            # record was written. It is already linked to its parent.
            return
        existing = self.procs.get(child)
        if (existing is not None and not existing.seeded and existing.ppid == parent.pid
                and existing.parent in (None, parent.id) and abs(existing.start - act.ts) < 1.0):
            # The child's own records beat its parent's clone record here.
            existing.start = min(existing.start, act.ts)
            if existing.parent is None:
                self._link(parent, existing)
            return
        # The number clone returns is a pid in the parent's pid namespace, which
        # inside a container is not the one the kernel's records use; and clone3
        # hides whether it made a thread. So the child becomes a process when its
        # own records show up under that pid with this parent; until then a
        # clone3 child counts as a thread, so that its `exit` does not end the
        # process. The parent's fds are taken now, as the fork shared them.
        clone3 = act.thread is None
        if clone3:
            parent.threads += 1
        if len(self._pending) >= _MAX_PENDING_SPAWNS:
            self._pending.pop(next(iter(self._pending)))
        snapshot = (dict(parent.fds), set(parent.cloexec)) if parent.fds else None
        self._pending[child] = (parent.pid, act.ts, snapshot, clone3)

    def _link(self, parent: Process, child: Process) -> None:
        child.parent = parent.id
        if parent.children_count < _MAX_CHILDREN:
            parent.children.append(child.id)
        parent.children_count += 1
        parent.dirty = True
        if child.container is None and parent.container is not None:
            child.container, child.runtime = parent.container, parent.runtime

    def _exec(self, act) -> None:
        proc = self._get(act)
        if not act.success:
            return
        runc_init = self._boxes.runs_oci_runtime(proc)
        self._take_task(proc, act)
        proc.set_argv(act.argv if act.argv is not None else act.proctitle)
        if act.cwd is not None:
            proc.cwd = act.cwd
        # The ids as the exec left them: a setuid program's euid is not its uid.
        run = {"time": utc(act.ts), "exe": proc.exe, "argv": proc.argv, "cwd": proc.cwd,
               "arch": act.arch, "uid": act.uid, "euid": act.euid, "suid": act.suid,
               "gid": act.gid, "egid": act.egid}
        if act.names is not None:
            run["names"] = act.names
        proc.add_exec(run)
        proc.dirty = True
        if proc.fds and proc.cloexec:
            for fd in list(proc.cloexec):
                self._files.release(proc, fd, act.ts)
        self._boxes.place_exec(proc, runc_init, act.ts)

    def _exit(self, act) -> None:
        proc = self._get(act)  # (a reused pid's first record may be its exit)
        if act.syscall == "exit" and proc.threads > 0:
            proc.threads -= 1        # a thread ended, not the process
            return
        proc.exit_code = act.code
        self._end(proc, act.ts, "exited")

    def _end(self, proc: Process, ts: float, status: str) -> None:
        """A process is over: close what it held, write it, forget it."""
        if self.procs.get(proc.pid) is proc:
            del self.procs[proc.pid]
        if len(self._recent_ends) >= _RECENT_ENDS:
            del self._recent_ends[next(iter(self._recent_ends))]
        self._recent_ends[proc.pid] = (proc.ppid, proc.start)
        signal = self._signalled.pop(proc.pid, None)
        if status != "exited" and signal is not None:
            status, proc.signal = "killed", signal
        proc.status = status
        proc.exit_time = ts
        if proc.fds:
            for fd in list(proc.fds):
                self._files.release(proc, fd, ts)
        if proc.in_scope:
            self._out.append(("processes", proc))
            self._boxes.ended(proc, ts, status)
        if status == "gone":
            self._counts["gone"] += 1

    def _kill(self, act) -> None:
        if act.success and act.target and act.target > 0 and act.signal in _FATAL_SIGNALS:
            self._signalled[act.target] = act.signal

    # -- files and containers: the process found, then its part ---------------------------

    def _open(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope:
            self._counts["out_of_scope"] += 1
            return
        self._files.open(proc, act)

    def _write(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope:
            self._counts["out_of_scope"] += 1
            return
        if self._files.write(proc, act):
            self._boxes.wrote(proc)

    def _close(self, act) -> None:
        proc = self._get(act)
        if proc.fds:
            self._files.close(proc, act)

    def _dup(self, act) -> None:
        proc = self._get(act)
        if proc.in_scope and act.new_fd is not None:
            self._files.dup(proc, act)

    def _set_cloexec(self, act) -> None:
        proc = self._get(act)
        if proc.fds:
            self._files.set_cloexec(proc, act)

    def _pivot_root(self, act) -> None:
        self._boxes.pivot_root(self._get(act), act)

    # -- paths ---------------------------------------------------------------------------

    def _chdir(self, act) -> None:
        proc = self._get(act)
        if act.path is not None:
            proc.cwd = act.path
        elif act.fd is not None and proc.fds:
            base = proc.fds.get(act.fd)
            if base is not None and base.path:
                proc.cwd = base.path

    def _fs_op(self, act) -> None:
        proc = self._get(act)
        if not proc.in_scope or not act.success:
            return
        path = self._files.resolve(proc, act.path, act.dirfd)
        op = {"op": act.kind, "time": utc(act.ts), "path": path}
        if act.kind == "rename":
            op["new_path"] = self._files.resolve(proc, act.new_path, act.new_dirfd)
        if proc.root:
            op["host_path"] = join(proc.root, path.lstrip("/")) if path else None
            if "new_path" in op and op["new_path"]:
                op["new_host_path"] = join(proc.root, op["new_path"].lstrip("/"))
        if proc.fs_ops is None:
            proc.fs_ops = []
        if len(proc.fs_ops) < _MAX_FS_OPS:
            proc.fs_ops.append(op)
        proc.dirty = True

    # -- time ------------------------------------------------------------------------

    def tick(self, now: float, *, sweep: bool = True) -> None:
        """Periodic work: processes that vanished without an exit record are
        closed (killed by a signal, or their record lost), and long-lived
        processes, open files and containers are checkpointed."""
        if self._last_checkpoint is None:
            self._last_checkpoint = now
        if now - self._last_checkpoint < self.checkpoint_interval:
            return
        self._last_checkpoint = now
        if sweep and self.live:
            self.sweep(now)
        self.checkpoint()

    def sweep(self, now: float) -> int:
        """Close every in-scope process whose pid is no longer alive."""
        gone = [p for p in self.procs.values() if p.in_scope and not procfs.alive(p.pid, p.proc_start)]
        for proc in gone:
            self._end(proc, now, "gone")
        self._emit()
        return len(gone)

    def checkpoint(self) -> None:
        for proc in self.procs.values():
            if proc.in_scope and proc.dirty:
                proc.dirty = False
                self._out.append(("processes", proc))
            if proc.fds:
                for open_file in set(proc.fds.values()):
                    if open_file.dirty and open_file.proc is proc:
                        open_file.dirty = False
                        self._out.append(("files", open_file.seal()))
        for box in self.containers.values():
            if box.dirty:
                box.dirty = False
                self._out.append(("containers", box))
        self._emit()

    def finish(self, now: float) -> None:
        """End of a run: live processes that are gone get closed; the rest, and
        their open files, are written as they stand."""
        if self.live:
            self.sweep(now)
        self._last_checkpoint = now
        for proc in self.procs.values():
            proc.dirty = proc.dirty or proc.in_scope
            if proc.fds:
                for open_file in proc.fds.values():
                    open_file.dirty = True
        self.checkpoint()

    # -- /proc -------------------------------------------------------------------------

    def seed_from_proc(self, proc_root: str = "/proc", *, started_before: int | None = None,
                       unaudited_before: int | None = None) -> int:
        """Learn the processes that were running before we started, parents
        first, so they keep their ancestry and container.

        With `started_before` (clock ticks since boot, as `boot_ticks()` gives),
        only processes not known yet that started before then: the second look,
        once the rules are in, at what started while the first one was taken.
        Anything later has its spawn in the audit stream. Those in scope that
        started before `unaudited_before` (ticks: audit's first enable of this
        boot) are never audited: marked, and counted in `unaudited`."""
        order = procfs.running(proc_root, started_before=started_before,
                               known=self.procs.keys() if started_before is not None else ())
        roots = procfs.MountRoots(proc_root)
        for info in order:
            parent = self.procs.get(info["ppid"])
            proc = Process(self._proc_id(info["pid"], info["start"]), info["pid"], info["ppid"],
                           None, info["start"], self._ctx)
            proc.comm, proc.exe, proc.cwd = info["comm"], info["exe"], info["cwd"]
            proc.set_argv(info["argv"])
            proc.uid, proc.seeded, proc.proc_start = info["uid"], True, info["ticks"]
            proc.euid, proc.suid, proc.gid, proc.egid = info["euid"], info["suid"], info["gid"], info["egid"]
            if parent is not None:
                self._link(parent, proc)  # its parent, the parent's children, the container
                proc.root = parent.root
            self._boxes.place_seeded(proc, parent, info)
            if proc.root is None and proc.container is not None and proc_root == "/proc":
                # Its pivot_root came before godo: the host path of its root is
                # in the mount tables (for a mount namespace not godo's).
                proc.root = roots.of(proc.pid)
            self.procs[proc.pid] = proc
            proc.in_scope = self._in_scope(proc, parent)
            if proc.in_scope:
                proc.fds, proc.cloexec = {}, set()
                self._counts["processes"] += 1
                if unaudited_before is not None and info["ticks"] < unaudited_before:
                    proc.audited = False
                    self._counts["unaudited"] += 1
                self._boxes.count(proc, info["start"], 1)
                if proc_root == "/proc":
                    self._files.inherit(proc, open_fds(proc.pid), info["start"])
        return len(order)

    def adopt_command(self, pid: int, start: float, argv: list[str],
                      inherited: dict[int, str | None] | None = None) -> Process:
        """The root of `godo record -- CMD`: known before its first record, with
        the fds it inherited from godo (fd -> what it names)."""
        proc = Process(self._proc_id(pid, start), pid, os.getpid(), None, start, self._ctx)
        proc.set_argv(argv)
        self.procs[pid] = proc
        proc.in_scope = True
        proc.fds, proc.cloexec = {}, set()
        self._counts["processes"] += 1
        self._files.inherit(proc, inherited or {}, start)
        self._command = proc
        return proc

    def command_reaped(self, code: int | None, signum: int | None, ts: float) -> str | None:
        """godo reaped CMD itself: its exit status from `waitpid`, used only when
        the stream brought none (its exit record lost, or it was killed: a signal
        ends a process without an exit call). Returns where the status written
        comes from: "audit" or "waitpid" (None: no command)."""
        proc = self._command
        if proc is None:
            return None
        if proc.status == "exited":
            return "audit"
        status = "exited" if signum is None else "killed"
        proc.exit_code, proc.signal = code, signum
        if proc.status == "running":
            self._end(proc, ts, status)
        else:  # closed as gone on the way (its pid seen reused): now we know better
            proc.status = status
            self._out.append(("processes", proc))
        self._emit()
        return "waitpid"
