"""Test support: real container runtimes (containerd + runc via `ctr`, podman).

Self-contained (Python 3.11, standard library only, no godo imports). It lets a
test start *real* runtime processes -- `containerd`, `containerd-shim-runc-v2`,
`runc create/init/start/delete`, `conmon` -- around a busybox-static workload,
with no image registry and without touching anything the host already runs.

What is here
------------
- `build_rootfs(dest)`: a busybox-static root (every applet a symlink to
  /bin/busybox), usable as `ctr run --rootfs DIR` / `podman run --rootfs DIR`.
- `containerd_available()` / `podman_available()`: an `Availability` that is
  truthy when the runtime can be used here, else carries the reason (for
  `pytest.skip(str(a))`).
- `PrivateContainerd`: context manager that starts a containerd of its own
  (own root, state, gRPC + ttrpc sockets, config file; debug and metrics
  listeners off; CRI plugin off) under /tmp/godo-rt-ctr-*, waits until it
  answers, and on exit kills whatever it still runs, stops it and removes what
  it created. It never talks to the default /run/containerd/containerd.sock.
- `ctr_run(ctrd, ident, argv, rootfs, ...)`: `ctr run --rm --rootfs` one
  container by name (`webapp`) or id (64 hex); returns the workload's exit
  status (ctr passes it through).
- `podman_run(argv, rootfs, ...)`: `podman run --rm --rootfs` with a private
  store (--root/--runroot/--tmpdir under /tmp/godo-rt-podman-*), runc, cgroupfs,
  file events, no network; everything removed afterwards.

Measured on the Debian bookworm machines (containerd 1.6.20~ds1, runc 1.1.5,
podman 4.3.1, conmon 2.1.6, crun 1.8.1; cgroup v1 "hybrid" layout; PID 1 is not
systemd): containerd is ready ~0.1 s after exec, and stops ~1-2 s after SIGTERM;
`ctr run --rm --rootfs ... /bin/true` takes ~0.08 s; `podman run --rm` ~0.15 s.
The process trees they make are drawn in README.md (`godo tree --runtime`, under
tree).

Pitfalls this module handles (each found the hard way):
- containerd 1.6 puts shim sockets in /run/containerd/s/<sha256(address/ns/id)>
  whatever --root/--state say (hard-coded); `ctr` defaults its FIFO dir to
  /run/containerd/fifo and the shim's runc root to /run/containerd/runc/<ns>.
  We pass `--fifo-dir` and `--runc-root` and remove /run/containerd afterwards
  only if it did not exist before and is empty.
- runc removes a container's leaf cgroup but leaves its parents (`/default`,
  `/kubepods/burstable/pod<uid>`, `/libpod_parent`): `CgroupJanitor` removes
  the empty cgroup directories that appeared while we ran.
- podman: crun 1.8.1 refuses this hybrid cgroup layout ("cgroups in hybrid mode
  not supported, drop all controllers from cgroupv2"), so we use runc. The
  default container rlimits (nofile/nproc 1048576) need CAP_SYS_RESOURCE, which
  the sandbox lacks -> pass --ulimit at the current limits (nproc at most 32768:
  podman lowers its own RLIMIT_NPROC to that and the container cannot exceed
  it). `--runtime-flag root=X` is NOT forwarded to podman's exit-command
  (`podman container cleanup` then runs `runc delete` against /run/runc and
  leaks state + cgroup), so we leave runc's root at its default /run/runc
  (per-id entries, removed on delete) and tidy /run/runc if we created it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

BUSYBOX = "/bin/busybox"
TMP_ROOT = "/tmp"
CGROUP_ROOT = Path("/sys/fs/cgroup")

# containerd's compiled-in defaults (containerd/defaults): we never use them,
# and refuse any configuration that would.
HOST_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
HOST_CONTAINERD_STATE = "/run/containerd"
HOST_CONTAINERD_ROOT = "/var/lib/containerd"
SHIM_SOCKET_DIR = Path("/run/containerd/s")      # hard-coded in containerd 1.6

# Container ids containerd accepts (ctr checks before anything runs).
CONTAINERD_ID_RE = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")

# Host directories the runtimes may create as a side effect. We remove each one
# afterwards only if it did not exist before we started and is then empty.
RUNTIME_SIDE_DIRS = (
    "/run/containerd",            # shim sockets (s/), ctr fifo/runc defaults
    "/run/runc",                  # runc's default --root (podman uses it)
    "/run/containers",            # podman: /run/containers/networks
    "/run/crun",                  # `crun --version` alone creates it
)

# Environment variables that would point ctr/podman elsewhere than we say.
_SCRUB_ENV = ("CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "CONTAINERD_SNAPSHOTTER",
              "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINER_HOST",
              "CONTAINER_CONNECTION", "XDG_RUNTIME_DIR")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB_ENV}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


# --------------------------------------------------------------------------
# rootfs
# --------------------------------------------------------------------------

def build_rootfs(dest: str | os.PathLike, init_script: str | None = None) -> Path:
    """Lay out a busybox-static root under `dest` (created if missing).

    bin/busybox plus one symlink per applet, and the empty mount points runc and
    conmon expect (proc, dev, sys, tmp, etc, run) plus /data for a workload's
    output. With `init_script`, it is written to /init.sh (run it as
    ["/bin/sh", "/init.sh"])."""
    root = Path(dest)
    for sub in ("bin", "proc", "dev", "sys", "tmp", "etc", "run", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        link = root / "bin" / applet
        if applet != "busybox" and not link.is_symlink() and not link.exists():
            link.symlink_to("busybox")
    if init_script is not None:
        (root / "init.sh").write_text(init_script)
    return root


# --------------------------------------------------------------------------
# availability
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Availability:
    """Truthy when usable; `reason` says why not (use as a pytest skip reason)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "available" if self.ok else self.reason


def _missing(binaries: Iterable[str]) -> list[str]:
    return [b for b in binaries if shutil.which(b, path=_env()["PATH"]) is None]


def _common_reasons() -> list[str]:
    reasons = []
    if sys.platform != "linux":
        reasons.append("not Linux")
    if os.geteuid() != 0:
        reasons.append("needs root")
    if not os.access(BUSYBOX, os.X_OK):
        reasons.append(f"{BUSYBOX} missing (apt-get install busybox-static)")
    if not (CGROUP_ROOT / "cgroup.controllers").exists() and not (CGROUP_ROOT / "memory").is_dir():
        reasons.append("no cgroup hierarchy mounted at /sys/fs/cgroup")
    return reasons


def containerd_available() -> Availability:
    """Can PrivateContainerd + ctr_run work here? (cheap: no process started)."""
    reasons = _common_reasons()
    miss = _missing(("containerd", "ctr", "containerd-shim-runc-v2", "runc"))
    if miss:
        reasons.append("missing " + ", ".join(miss) + " (apt-get install containerd runc)")
    return Availability(not reasons, "; ".join(reasons))


_PODMAN_PROBE: Availability | None = None


def podman_available(probe: bool = True) -> Availability:
    """Can podman_run work here? With `probe` (default), really runs
    `/bin/true` once in a private store -- podman fails in many environment-
    specific ways (cgroup layout, rlimits, OCI runtime) that only a run shows.
    The probe's verdict is cached for the process."""
    global _PODMAN_PROBE
    reasons = _common_reasons()
    miss = _missing(("podman", "conmon", "runc"))
    if miss:
        reasons.append("missing " + ", ".join(miss) + " (apt-get install podman conmon runc)")
    if reasons:
        return Availability(False, "; ".join(reasons))
    if not probe:
        return Availability(True)
    if _PODMAN_PROBE is None:
        with tempfile.TemporaryDirectory(prefix="godo-rt-probe-", dir=TMP_ROOT) as tmp:
            rootfs = build_rootfs(Path(tmp) / "rootfs")
            try:
                res = podman_run(["/bin/true"], rootfs, timeout=60, capture=True)
                _PODMAN_PROBE = (Availability(True) if res.returncode == 0 else
                                 Availability(False, "podman run /bin/true failed: "
                                              + (res.stderr or "").strip()[-300:]))
            except (OSError, subprocess.SubprocessError) as exc:
                _PODMAN_PROBE = Availability(False, f"podman probe failed: {exc}")
    return _PODMAN_PROBE


# --------------------------------------------------------------------------
# leftovers: cgroup directories and /run side directories
# --------------------------------------------------------------------------

def _cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy root: /sys/fs/cgroup itself on a pure v2
    host, else each v1 controller dir plus the hybrid `unified` one."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir()
                  if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def _cgroup_dirs(hier: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, _ in os.walk(hier):
        for d in dirnames:
            out.add(os.path.relpath(os.path.join(dirpath, d), hier))
    return out


class CgroupJanitor:
    """Snapshot of every cgroup directory; `cleanup()` rmdirs, deepest first,
    the ones that appeared since -- but only inside top-level trees that did
    not exist before (`/default`, `/kubepods`, `/libpod_parent`, ...) or whose
    path names one of `ids`: a cgroup someone else is creating right now (PID
    1 here makes one per command, under /process_api/) is never touched.
    rmdir itself refuses a cgroup that still has processes or children."""

    def __init__(self) -> None:
        self.before = {h: _cgroup_dirs(h) for h in _cgroup_hierarchies()}

    def cleanup(self, ids: Iterable[str] = ()) -> list[str]:
        ids = [i for i in ids if i]
        left = []
        for hier, before in self.before.items():
            tops = {p.split("/", 1)[0] for p in before}
            new = [p for p in _cgroup_dirs(hier) - before
                   if p.split("/", 1)[0] not in tops or any(i in p for i in ids)]
            for rel in sorted(new, key=lambda p: p.count("/"), reverse=True):
                try:
                    os.rmdir(hier / rel)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(str(hier / rel))
        return left


class RunDirJanitor:
    """Remembers which of RUNTIME_SIDE_DIRS existed; `cleanup()` removes those
    that did not, if only empty directories remain in them."""

    def __init__(self, dirs: Sequence[str] = RUNTIME_SIDE_DIRS) -> None:
        self.created = [Path(d) for d in dirs if not os.path.lexists(d)]

    def cleanup(self) -> list[str]:
        left = []
        for d in self.created:
            if not d.exists():
                continue
            for dirpath, dirnames, filenames in os.walk(d, topdown=False):
                if filenames:
                    continue
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
            if d.exists():
                left.append(str(d))
        return left


def _pids_matching(pred) -> list[int]:
    """Pids (not ours) whose argv satisfies pred(list[str])."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
        except OSError:
            continue
        if argv and pred(argv):
            out.append(int(entry))
    return out


def _kill_and_wait(pids: Iterable[int], sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """True while pid exists and is not a zombie (PID 1 here reaps lazily)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------------------
# containerd
# --------------------------------------------------------------------------

CONFIG_TEMPLATE = """\
# Private containerd for godo tests: nothing shared with a host containerd.
version = 2
root = "{root}"
state = "{state}"
# CRI would want CNI and a pause image; the snapshotters below are not usable
# here and only log errors. `ctr run --rootfs` needs no snapshotter at all.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"""


class PrivateContainerd:
    """A containerd of our own, under a fresh /tmp/godo-rt-ctr-* directory.

        with PrivateContainerd() as ctrd:
            status = ctr_run(ctrd, "webapp", ["/bin/sh", "-c", "exit 3"], rootfs)

    Layout under `base`: config.toml, containerd.log, root/, state/, runc/
    (the shims' runc --root, one subdir per containerd namespace), fifo/ (ctr's
    IO FIFOs), containerd.sock and containerd.sock.ttrpc.
    """

    def __init__(self, base: str | os.PathLike | None = None, *, ready_timeout: float = 20.0,
                 keep: bool = False) -> None:
        self._base_arg = base
        self.ready_timeout = ready_timeout
        self.keep = keep                     # keep the directory (for debugging)
        self.proc: subprocess.Popen | None = None
        self.base: Path | None = None
        self.startup_seconds: float | None = None
        self._ran: set[tuple[str, str]] = set()     # (namespace, id) pairs started
        self._cgroups: CgroupJanitor | None = None
        self._rundirs: RunDirJanitor | None = None
        self._log = None

    # paths --------------------------------------------------------------
    @property
    def address(self) -> str:
        return str(self.base / "containerd.sock")

    @property
    def runc_root(self) -> str:
        return str(self.base / "runc")

    @property
    def fifo_dir(self) -> str:
        return str(self.base / "fifo")

    def ctr(self, *args: str, namespace: str = "default", **kw) -> subprocess.CompletedProcess:
        """Run `ctr --address OURS -n NS ARGS...` (never the host's socket)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(["ctr", "--address", self.address, "--namespace", namespace, *args],
                              env=_env(), **kw)

    # lifecycle ------------------------------------------------------------
    def __enter__(self) -> "PrivateContainerd":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        why = containerd_available()
        if not why:
            raise RuntimeError(f"containerd unavailable: {why}")
        self._cgroups = CgroupJanitor()
        self._rundirs = RunDirJanitor()
        if self._base_arg is None:
            self.base = Path(tempfile.mkdtemp(prefix="godo-rt-ctr-", dir=TMP_ROOT))
        else:
            self.base = Path(self._base_arg)
            self.base.mkdir(parents=True, exist_ok=True)
        for sub in ("root", "state", "runc", "fifo"):
            (self.base / sub).mkdir(exist_ok=True)
        # unix socket paths are limited to 108 bytes (containerd checks 106).
        if len(self.address) + len(".ttrpc") > 100:
            raise ValueError(f"base path too long for a unix socket: {self.base}")
        for bad in (HOST_CONTAINERD_SOCKET, HOST_CONTAINERD_STATE, HOST_CONTAINERD_ROOT):
            if str(self.base).startswith(bad):
                raise ValueError(f"refusing to run under the host containerd's {bad}")
        config = self.base / "config.toml"
        config.write_text(CONFIG_TEMPLATE.format(root=self.base / "root", state=self.base / "state",
                                                 sock=self.address))
        self._log = open(self.base / "containerd.log", "wb")
        t0 = time.monotonic()
        # --config keeps it off /etc/containerd/config.toml; --address repeats
        # the socket so that no config mistake can fall back to the default.
        # Own session: a ^C in the test runner does not hit it first.
        self.proc = subprocess.Popen(
            ["containerd", "--config", str(config), "--address", self.address,
             "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=_env(), start_new_session=True)
        try:
            self._wait_ready(t0)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def _wait_ready(self, t0: float) -> None:
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}: "
                                   + self.log_tail())
            if os.path.exists(self.address):
                res = self.ctr("version", timeout=5)
                if res.returncode == 0 and "Server:" in res.stdout:
                    return
            if time.monotonic() - t0 > self.ready_timeout:
                raise TimeoutError("containerd not ready after "
                                   f"{self.ready_timeout}s: " + self.log_tail())
            time.sleep(0.01)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.base / "containerd.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Kill every task, stop containerd, remove what it left. Returns a list
        of things that could not be removed (empty when all is clean)."""
        left: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            self._kill_all_tasks()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.base is not None:
            # Shims outlive containerd: find ours by the -address we gave them.
            addr = self.address
            shims = _pids_matching(lambda a: os.path.basename(a[0]).startswith("containerd-shim")
                                   and addr in a)
            self._runc_delete_all()
            _kill_and_wait(shims)
            for ns, ident in self._ran:
                # containerd names a shim's socket sha256("<address>/<ns>/<id>")
                # (its debug socket: the same path + "/debug"); the shim removes
                # it when it exits cleanly, not when killed.
                for path in (f"{addr}/{ns}/{ident}", f"{addr}/{ns}/{ident}/debug"):
                    digest = hashlib.sha256(path.encode()).hexdigest()
                    with contextlib.suppress(FileNotFoundError):
                        (SHIM_SOCKET_DIR / digest).unlink()
            if not self.keep:
                shutil.rmtree(self.base, ignore_errors=True)
                if self.base.exists():
                    left.append(str(self.base))
        if self._cgroups is not None:
            left += self._cgroups.cleanup(ident for _, ident in self._ran)
            self._cgroups = None
        if self._rundirs is not None:
            left += self._rundirs.cleanup()
            self._rundirs = None
        self.proc = None
        return left

    def _kill_all_tasks(self) -> None:
        res = self.ctr("namespaces", "list", "-q", timeout=10)
        for ns in res.stdout.split() if res.returncode == 0 else []:
            tasks = self.ctr("tasks", "list", "-q", namespace=ns, timeout=10).stdout.split()
            for t in tasks:
                self.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", t, namespace=ns, timeout=10)
            for t in tasks:
                self.ctr("tasks", "delete", "--force", t, namespace=ns, timeout=20)
            for c in self.ctr("containers", "list", "-q", namespace=ns, timeout=10).stdout.split():
                self.ctr("containers", "delete", c, namespace=ns, timeout=20)

    def _runc_delete_all(self) -> None:
        """Last resort for containers containerd did not clean: runc state
        dirs under our runc root -> `runc delete --force` (kills and removes
        the cgroup)."""
        root = Path(self.runc_root)
        if not root.is_dir():
            return
        for nsdir in root.iterdir():
            for cdir in nsdir.iterdir() if nsdir.is_dir() else []:
                if (cdir / "state.json").exists():
                    subprocess.run(["runc", "--root", str(nsdir), "delete", "--force", cdir.name],
                                   capture_output=True, timeout=30, env=_env())

    # running ---------------------------------------------------------------
    def run(self, ident: str, argv: Sequence[str], rootfs: str | os.PathLike, *,
            namespace: str = "default", cgroup: str | None = None,
            annotations: dict[str, str] | None = None, env: dict[str, str] | None = None,
            extra: Sequence[str] = (), timeout: float = 120, capture: bool = True,
            background: bool = False):
        """`ctr run --rm --rootfs ROOTFS IDENT ARGV...` in this containerd.

        Returns the CompletedProcess (returncode = the workload's exit status,
        or 1 when ctr itself fails, e.g. a bad id or a missing command), or the
        Popen when `background`. `cgroup` sets the OCI cgroupsPath (ctr's
        default is /<namespace>/<ident>; "" means runc's default: <ident>
        under the shim's own cgroup). `annotations` go into the OCI spec:
        {"io.kubernetes.cri.sandbox-id": SB} (or "io.containerd.runc.v2.group")
        makes containers share one shim, whose -id is the first one's, as under
        Kubernetes."""
        if not CONTAINERD_ID_RE.match(ident):
            raise ValueError(f"containerd rejects the id {ident!r}")
        cmd = ["ctr", "--address", self.address, "--namespace", namespace, "run", "--rm",
               "--fifo-dir", self.fifo_dir, "--runc-root", self.runc_root]
        if cgroup is not None:
            cmd += ["--cgroup", cgroup]
        for k, v in (annotations or {}).items():
            cmd += ["--annotation", f"{k}={v}"]
        for k, v in (env or {}).items():
            cmd += ["--env", f"{k}={v}"]
        cmd += [*extra, "--rootfs", str(rootfs), ident, *argv]
        self._ran.add((namespace, ident))
        for a in annotations or {}:
            if a in ("io.kubernetes.cri.sandbox-id", "io.containerd.runc.v2.group"):
                self._ran.add((namespace, annotations[a]))
        out = subprocess.PIPE if capture else None
        if background:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    text=True, env=_env())
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True,
                              timeout=timeout, env=_env())


def ctr_run(ctrd: PrivateContainerd, ident: str, argv: Sequence[str],
            rootfs: str | os.PathLike, **kw) -> int:
    """Run one container to completion; return its exit status."""
    return ctrd.run(ident, argv, rootfs, **kw).returncode


# --------------------------------------------------------------------------
# podman
# --------------------------------------------------------------------------

@dataclass
class PodmanStore:
    """A private podman store under a fresh /tmp/godo-rt-podman-* directory."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="godo-rt-podman-",
                                                                     dir=TMP_ROOT)))

    def global_args(self) -> list[str]:
        b = self.base
        for sub in ("root", "runroot", "tmp", "net"):
            (b / sub).mkdir(exist_ok=True)
        return [
            "--root", str(b / "root"),             # images, containers, bolt db
            "--runroot", str(b / "runroot"),       # pidfiles, locks
            "--tmpdir", str(b / "tmp"),            # libpod's /run/libpod (exits, events)
            "--network-config-dir", str(b / "net"),
            "--storage-driver", "vfs",             # --rootfs needs no layers anyway
            "--cgroup-manager", "cgroupfs",        # no systemd as PID 1 here
            "--events-backend", "file",            # no journald
            "--runtime", "runc",                   # crun 1.8.1 rejects hybrid cgroups
        ]

    def running_helpers(self) -> list[int]:
        """conmon / `podman container cleanup` processes of this store."""
        marker = str(self.base)
        return _pids_matching(lambda a: any(marker in x for x in a))

    def cleanup(self, wait: float = 10.0) -> None:
        # conmon runs `podman container cleanup --rm ID` (its exit command)
        # after the workload exits, asynchronously to `podman run`: let it
        # finish before pulling the store from under it.
        deadline = time.monotonic() + wait
        while self.running_helpers() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["podman", *self.global_args(), "rm", "--all", "--force"],
                       capture_output=True, timeout=60, env=_env())
        _kill_and_wait(self.running_helpers())
        shutil.rmtree(self.base, ignore_errors=True)


def _podman_ulimits() -> list[str]:
    """--ulimit values the sandbox can grant (see module docstring)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)

    def lim(v: int) -> int:
        return 1048576 if v == resource.RLIM_INFINITY else v
    np_hard = min(lim(nproc[1]), 32768)
    np_soft = min(lim(nproc[0]), np_hard)
    return ["--ulimit", f"nofile={lim(nofile[0])}:{lim(nofile[1])}",
            "--ulimit", f"nproc={np_soft}:{np_hard}"]


def podman_run(argv: Sequence[str], rootfs: str | os.PathLike, *, name: str | None = None,
               store: PodmanStore | None = None, env: dict[str, str] | None = None,
               extra: Sequence[str] = (), timeout: float = 120,
               capture: bool = True) -> subprocess.CompletedProcess:
    """`podman run --rm --rootfs ROOTFS ARGV...` in a private store.

    The container id is podman's own random 64 hex (conmon gets `-c ID -u ID
    -n NAME`); `name` is what `--name` sets (else podman picks adjective_noun).
    returncode is the workload's exit status (125/126/127 are podman's own
    errors: generic / runtime refused / command not found). Without `store`, a
    fresh one is made and removed afterwards, with the cgroups and /run dirs
    podman created."""
    own = store is None
    store = store or PodmanStore()
    cgroups, rundirs = (CgroupJanitor(), RunDirJanitor()) if own else (None, None)
    cmd = ["podman", *store.global_args(), "run", "--rm", "--network", "none",
           *_podman_ulimits()]
    if name:
        cmd += ["--name", name]
    for k, v in (env or {}).items():
        cmd += ["--env", f"{k}={v}"]
    cmd += [*extra, "--rootfs", str(rootfs), *argv]
    out = subprocess.PIPE if capture else None
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True,
                              timeout=timeout, env=_env())
    finally:
        if own:
            store.cleanup()
            cgroups.cleanup()
            rundirs.cleanup()


# --------------------------------------------------------------------------
# demonstration: python tests/support/runtimes.py
# --------------------------------------------------------------------------

def _leftovers(markers: Sequence[str]) -> list[str]:
    """Processes still running whose argv mentions one of `markers`."""
    pids = _pids_matching(lambda a: any(m in x for x in a for m in markers))
    out = []
    for p in pids:
        if _alive(p):
            with contextlib.suppress(OSError):
                out.append(f"{p} " + open(f"/proc/{p}/cmdline", "rb").read()
                           .replace(b"\0", b" ").decode(errors="replace")[:150])
    return out


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="godo-rt-demo-", dir=TMP_ROOT) as tmp:
        rootfs = build_rootfs(Path(tmp) / "rootfs")
        a = containerd_available()
        print(f"containerd: {a}")
        base = None
        if a:
            with PrivateContainerd() as ctrd:
                base = str(ctrd.base)
                print(f"  private containerd at {ctrd.address}, ready in {ctrd.startup_seconds:.3f}s")
                t = time.monotonic()
                r = ctrd.run("webapp", ["/bin/sh", "-c",
                                        "echo hello from $0; grep -m1 memory /proc/self/cgroup; exit 3",
                                        "webapp"], rootfs)
                print(f"  ctr run webapp -> exit {r.returncode} in {time.monotonic() - t:.3f}s:"
                      f" {r.stdout.strip()!r}")
                failures += r.returncode != 3
                cid = secrets.token_hex(32)
                st = ctr_run(ctrd, cid, ["/bin/true"], rootfs)
                print(f"  ctr run {cid[:12]}... -> exit {st}")
                failures += st != 0
            left = _leftovers([base])
            print(f"  after stop: leftover processes {left or 'none'};"
                  f" base dir exists: {os.path.exists(base)}")
            failures += bool(left)
        p = podman_available()
        print(f"podman: {p}")
        if p:
            t = time.monotonic()
            r = podman_run(["/bin/sh", "-c", "echo hello from podman; grep -m1 memory /proc/self/cgroup"],
                           rootfs, name="webapp")
            print(f"  podman run --name webapp -> exit {r.returncode} in {time.monotonic() - t:.3f}s:"
                  f" {r.stdout.strip()!r} {r.stderr.strip()[-200:]!r}")
            failures += r.returncode != 0
            left = _leftovers(["godo-rt-podman-"])
            print(f"  after cleanup: leftover processes {left or 'none'}")
            failures += bool(left)
    for d in RUNTIME_SIDE_DIRS:
        print(f"  {d}: {'exists' if os.path.exists(d) else 'absent'}")
    print("OK" if not failures else f"{failures} FAILURE(S)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
