"""What /proc says about processes: those running before godo looked, their start
times, and where a container's root is on the host (their open files: godo.fds)."""

from __future__ import annotations

import os
import re
import time

from .paths import join
from .runtimes import cgroup_of


def _contents(path: str) -> bytes:
    """A /proc file's bytes (open and read: pathlib would be a tenth of start-up)."""
    with open(path, "rb") as f:
        return f.read()


def boot_ticks() -> int:
    """Now, in the clock ticks since boot that /proc/PID/stat gives start times in,
    less one: a process that started in this tick may have started after now."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLK_TCK) - 1


def boot_time() -> float:
    try:
        for line in _contents("/proc/stat").decode().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def running(proc_root: str = "/proc", *, started_before: int | None = None,
            known=()) -> list[dict]:
    """The processes /proc shows, parents before children, each as a dict (pid,
    ppid, comm, argv, exe, cwd, uid, ticks, start, cgroup: a CgroupMatch or None); kernel
    threads left out. With `started_before` (clock ticks since boot, as
    `boot_ticks()` gives), only those that started before then and are not in
    `known` pids."""
    boot = boot_time()
    seen = []
    for entry in os.listdir(proc_root):
        if entry.isdigit():
            if int(entry) in known:
                continue
            info = _read(proc_root, int(entry), boot)
            if info is not None and (started_before is None or info["ticks"] < started_before):
                seen.append(info)
    by_pid = {info["pid"]: info for info in seen}
    order: list[dict] = []
    placed: set[int] = set()

    def place(info, depth=0):
        if info["pid"] in placed or depth > 512:
            return
        parent = by_pid.get(info["ppid"])
        if parent is not None:
            place(parent, depth + 1)
        placed.add(info["pid"])
        order.append(info)

    for info in seen:
        place(info)
    return order


def _read(root: str, pid: int, boot: float) -> dict | None:
    base = f"{root}/{pid}"
    try:
        stat = _contents(f"{base}/stat")
        close = stat.rindex(b")")
        fields = stat[close + 2:].split()
        comm = stat[stat.index(b"(") + 1:close].decode("utf-8", "backslashreplace")
        ppid, ticks = int(fields[1]), int(fields[19])
        raw_argv = _contents(f"{base}/cmdline")
    except (OSError, ValueError, IndexError):
        return None
    if not raw_argv:
        return None  # kernel threads: not processes anyone runs
    argv = [a.decode("utf-8", "backslashreplace") for a in raw_argv.rstrip(b"\0").split(b"\0")]
    exe = cwd = None
    try:
        exe = os.readlink(f"{base}/exe")
        cwd = os.readlink(f"{base}/cwd")
    except OSError:
        pass
    ids = {"uid": None, "euid": None, "suid": None, "gid": None, "egid": None}
    try:
        for line in _contents(f"{base}/status").decode().splitlines():
            # Uid: and Gid: give the real, effective, saved and filesystem ids.
            if line.startswith("Uid:"):
                ids["uid"], ids["euid"], ids["suid"] = map(int, line.split()[1:4])
            elif line.startswith("Gid:"):
                ids["gid"], ids["egid"] = map(int, line.split()[1:3])
                break
    except (OSError, ValueError):
        pass
    return {"pid": pid, "ppid": ppid, "comm": comm, "argv": argv, "exe": exe, "cwd": cwd,
            **ids, "ticks": ticks, "start": boot + ticks / _CLK_TCK,
            "cgroup": cgroup_of(pid) if root == "/proc" else None}


class MountRoots:
    """The host path of a process's root directory when it lives in a mount
    namespace of its own (a container that pivoted before godo started): its `/`
    mount is a directory of some filesystem (major:minor, root within it), and
    godo's own mount table says where that filesystem's directory is on the host.
    None for godo's namespace, or when no mount of godo's shows that directory
    (a filesystem mounted only in the container)."""

    def __init__(self, proc_root: str = "/proc"):
        self.proc_root = proc_root
        self.own_ns = _readlink(f"{proc_root}/self/ns/mnt")
        self._host: list[tuple[str, str, str]] | None = None  # (device, root, mount point)
        self._by_ns: dict[str, str | None] = {}

    def of(self, pid: int) -> str | None:
        ns = _readlink(f"{self.proc_root}/{pid}/ns/mnt")
        if ns is None or ns == self.own_ns:
            return None
        if ns not in self._by_ns:
            self._by_ns[ns] = self._resolve(pid)
        return self._by_ns[ns]

    def _resolve(self, pid: int) -> str | None:
        mounts = _mountinfo(f"{self.proc_root}/{pid}/mountinfo")
        own = [m for m in mounts if m[2] == "/"]
        if not own:
            return None
        device, root, _point = own[-1]  # the last mount on / is the one in view
        if self._host is None:
            self._host = _mountinfo(f"{self.proc_root}/self/mountinfo")
        best = None
        for host_device, host_root, point in self._host:
            if host_device != device:
                continue
            prefix = host_root.rstrip("/") + "/"
            if root == host_root or root.startswith(prefix):
                # The mount of the most of that filesystem: a bind mount of part of
                # it elsewhere shows the same directory under an alias.
                if best is None or len(host_root) < len(best[0]):
                    best = (host_root, point)
        if best is None:
            return None
        host_root, point = best
        rest = root[len(host_root):].lstrip("/")
        return join(point, rest) if rest else point


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _mountinfo(path: str) -> list[tuple[str, str, str]]:
    """(major:minor, root, mount point) of each line of a mountinfo file, with
    the kernel's octal escapes (space, tab, newline, backslash) undone."""
    try:
        text = _contents(path).decode("utf-8", "surrogateescape")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            out.append((fields[2], _unescape(fields[3]), _unescape(fields[4])))
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text) if "\\" in text else text


def alive(pid: int, start_ticks: int | None) -> bool:
    """Whether `pid` still runs, and is the process that started at `start_ticks`
    (clock ticks since boot, None: whichever has the pid)."""
    try:
        stat = _contents(f"/proc/{pid}/stat")
    except OSError:
        return False
    if start_ticks is None:
        return True
    try:
        return int(stat[stat.rindex(b")") + 2:].split()[19]) == start_ticks
    except (ValueError, IndexError):
        return True
