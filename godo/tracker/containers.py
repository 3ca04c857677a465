"""The tracker's container part: which container a process acts in, as its
runtime's plumbing or as its workload, and what each container's document says
(its names, its pod, its init and how that ended).

`Containers` owns the containers seen (`containers`, by id); the tracker lends it
its process table (pivot_root moves a process's ancestors with it) and the run's
counts, and hands each call the process concerned. The runtimes' shapes are data,
in runtimes.py.
"""

from __future__ import annotations

# Fellow parts by `.`, shared modules by `..tracker`: compiled, this file is
# godo._tracker_c.containers, whose fellows are compiled too (setup.py).
from ..tracker.runtimes import OCI_RUNTIMES, CgroupMatch, RuntimeCall, cgroup_of, program, runtime_call
from .model import Container, Context, Process
from .paths import join


class Containers:
    """Attribution of processes to containers, from the runtimes' execs, their
    pivot_root, the cgroup, and /proc for what ran before godo."""

    def __init__(self, procs: dict, counts: dict, scope, ctx: Context, live: bool):
        self.containers: dict[str, Container] = {}
        self._procs = procs
        self.counts = counts
        self.scope = scope
        self._ctx = ctx
        self.live = live

    def _box(self, cid: str, ts: float) -> Container:
        box = self.containers.get(cid)
        if box is None:
            box = self.containers[cid] = Container(cid, ts, self._ctx)
        return box

    def count(self, proc: Process, ts: float, step: int) -> None:
        """An in-scope process joins (step 1) or leaves (-1) its container's counts,
        if it is in one."""
        if proc.container is None:
            return
        box = self._box(proc.container, ts)
        if proc.runtime:
            box.runtime_processes += step
        else:
            box.processes += step
            if proc.root and not box.rootfs:
                box.rootfs = proc.root
        box.last = max(box.last, ts)
        box.dirty = True

    def wrote(self, proc: Process) -> None:
        """The process wrote to a file for the first time: its container's workload did."""
        if proc.container is not None and not proc.runtime:
            box = self.containers.get(proc.container)
            if box is not None:
                box.files_written += 1
                box.dirty = True

    def ended(self, proc: Process, ts: float, status: str) -> None:
        """An in-scope process ended: its container was active until then, and is
        over when its init is."""
        box = self.containers.get(proc.container) if proc.container is not None else None
        if box is None:
            return
        box.last = max(box.last, ts)
        box.dirty = True
        if box.init == proc.id:
            box.status, box.exit_code, box.signal = status, proc.exit_code, proc.signal

    def _attribute(self, proc: Process, cid: str | None, runtime: bool, ts: float) -> None:
        """The process acts in container `cid`: as its runtime's plumbing, or (not
        `runtime`) as its workload. The containers' counts follow it."""
        if proc.container == cid and proc.runtime == runtime:
            return
        if proc.in_scope:
            self.count(proc, ts, -1)
        proc.container, proc.runtime, proc.dirty = cid, runtime, True
        if cid is None:
            return
        if not proc.in_scope and self.scope.kind == "containers":
            self._enter_scope(proc, ts)
        elif proc.in_scope:
            self.count(proc, ts, 1)

    def _describe(self, box: Container, call: RuntimeCall, outer: str | None) -> None:
        """What a runtime's argv tells of its container. `outer`: the container the
        runtime process was in before, when another (a pod's sandbox: a Kubernetes
        shim's `-id`, under which runc creates each of the pod's containers)."""
        box.name = box.name or call.name
        box.namespace = box.namespace or call.namespace
        box.engine = box.engine or call.engine
        if outer is not None and outer != box.id:
            # Acting from the sandbox's shim: that is the pod, whatever the
            # container's own `shim start` (which exits at once) implied.
            sandbox = self.containers.get(outer)
            box.pod = (sandbox.pod if sandbox is not None else None) or outer
            if sandbox is not None:
                box.namespace = box.namespace or sandbox.namespace
                box.engine = box.engine or sandbox.engine
        elif call.engine == "kubernetes":
            box.pod = box.pod or box.id   # the shim's own id is the sandbox's
        box.dirty = True

    def _cgroup_box(self, found: CgroupMatch, ts: float) -> Container:
        """The container a cgroup path names, with the engine its shape tells."""
        box = self._box(found.id, ts)
        box.engine = box.engine or found.engine
        return box

    def _runtime_exec(self, proc: Process, call: RuntimeCall, ts: float) -> None:
        """A runtime program started: plumbing of the container it names (or of the
        one it runs in, for `runc init`); a runtime acting for no container
        (containerd, the podman CLI) stays out of a container's scope."""
        proc.shim_id = call.container
        cid = call.container or proc.container
        if cid is None:
            return
        self._describe(self._box(cid, ts), call, proc.container)
        self._attribute(proc, cid, True, ts)

    def _enter_scope(self, proc: Process, ts: float) -> None:
        if proc.in_scope:
            return
        proc.in_scope = True
        proc.fds, proc.cloexec = {}, set()
        self.counts["processes"] += 1
        self.count(proc, ts, 1)

    def runs_oci_runtime(self, proc: Process) -> bool:
        """A runtime's process running runc or crun (`runc init`): what it execs
        next is what the container was told to run. Asked before the exec."""
        return proc.runtime and program(proc.exe, proc.argv) in OCI_RUNTIMES

    def place_exec(self, proc: Process, runc_init: bool, ts: float) -> None:
        """After an exec: a runtime program is plumbing; `runc init`'s exec is
        the workload; else, live and not below a runtime seen starting, the
        cgroup may still name a container."""
        call = runtime_call(proc.exe, proc.argv)
        if call is not None:
            self._runtime_exec(proc, call, ts)
        elif runc_init and proc.container is not None:
            self._enter_workload(proc, [proc], ts)
        elif proc.container is None and self.live and self.scope.kind == "containers":
            found = cgroup_of(proc.pid)
            if found is not None:
                self._cgroup_box(found, ts)
                self._attribute(proc, found.id, found.monitor, ts)

    def pivot_root(self, proc: Process, act) -> None:
        if not act.success or not act.new_root:
            return
        # A relative name is relative to the cwd before the call; the event's own
        # CWD record is written after it, relative to the new root.
        named = act.new_root
        if not named.startswith("/") and proc.cwd:
            named = join(proc.cwd, named)
        old_root = proc.root
        new_root = named if not old_root else join(old_root, named.lstrip("/"))
        # Every process of the mount namespace that shared the old root moves with
        # it: the caller, and its ancestors up to the runtime that made the container.
        moved = []
        node = proc
        while node is not None:
            node.root = new_root
            node.dirty = True
            moved.append(node)
            parent = self._procs.get(node.ppid)
            if (parent is None or parent.id != node.parent or parent.shim_id
                    or parent.container != proc.container or parent.root != old_root):
                break
            node = parent
        if proc.container is None:
            return
        box = self._box(proc.container, act.ts)
        if box.rootfs != new_root:
            box.rootfs = new_root
            box.dirty = True
        if proc.runtime and runtime_call(proc.exe, proc.argv) is None:
            # Not a runtime's program that entered the root (that one, `runc init`,
            # becomes the workload when it execs it): a hand-made container, whose
            # processes that moved with it are its workload.
            self._enter_workload(moved[-1], moved, act.ts)

    def _enter_workload(self, init: Process, moved: list, ts: float) -> None:
        """A runtime's processes became the container's workload (`moved`: from
        the one that acts, up to `init`). The first to do so is its init; one
        that joins a running container (`runc exec`) shares its root."""
        box = self._box(init.container, ts)
        for node in reversed(moved):
            self._attribute(node, node.container, False, ts)
            if node.root is None and box.rootfs is not None:
                node.root = box.rootfs
        if box.init is None:
            box.init, box.init_pid = init.id, init.pid
            box.dirty = True

    def place_seeded(self, proc: Process, parent: Process | None, info: dict) -> None:
        """A process that ran before godo: a runtime's (by its argv), a pod's
        container (by its cgroup, under the sandbox's shim), or the init of a
        container a runtime made (the runtime's first child that is no runtime)."""
        call = runtime_call(proc.exe, proc.argv)
        found = info["cgroup"]
        if call is not None:
            proc.shim_id = call.container
            outer = proc.container
            proc.container = call.container or outer
            proc.runtime = proc.container is not None
            if call.container is not None:
                self._describe(self._box(call.container, info["start"]), call, outer)
            return
        if found is not None and (proc.container is None or (parent is not None and parent.runtime)):
            box = self._cgroup_box(found, info["start"])
            if parent is not None and parent.container is not None and parent.container != found.id:
                box.pod = box.pod or parent.container
            proc.container = found.id
            if found.monitor:
                proc.runtime = True
                return
        if proc.container is not None and parent is not None and parent.runtime:
            proc.runtime = False
            box = self._box(proc.container, info["start"])
            if box.init is None:
                box.init, box.init_pid = proc.id, proc.pid
