"""What the benchmark scripts share: building their C programs, the live lock,
and finding the godo they measure."""

from __future__ import annotations

import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
C_DIR = HERE / "c"
DATA_DIR = HERE / "data"
# Every run that touches the kernel's audit subsystem on this machine takes this
# lock: the subsystem is one global resource shared by tests and benchmarks.
LIVE_LOCK = "/run/lock/godo-live.lock"

if str(REPO) not in sys.path:
    # Run as `python benchmarks/x.py` from a checkout: measure this checkout's godo.
    sys.path.insert(0, str(REPO))
if str(REPO / "tests") not in sys.path:
    # The helpers the tests share (support.frames: log lines as netlink frames).
    sys.path.append(str(REPO / "tests"))


def build(name: str, out_dir: Path, libs: tuple[str, ...] = ()) -> Path:
    """gcc -O2 benchmarks/c/NAME.c into out_dir (a temp dir: binaries are never
    committed, and a fresh build cannot measure a stale one)."""
    if shutil.which("gcc") is None:
        raise SystemExit("gcc is needed to build the benchmark's C programs")
    binary = out_dir / name
    cmd = ["gcc", "-O2", "-Wall", "-o", str(binary), str(C_DIR / f"{name}.c"), *(f"-l{lib}" for lib in libs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot build {name}.c:\n{done.stderr}")
    return binary


@contextmanager
def live_lock():
    """Exclusive use of the kernel's audit subsystem, across processes."""
    Path(LIVE_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with open(LIVE_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LIVE_LOCK} (another live run holds it)", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def godo_command() -> list[str]:
    """The godo of the interpreter running this script (the venv's), its modules
    byte-compiled as installing godo's wheel leaves them (pip compiles every .py): a
    checkout run with PYTHONDONTWRITEBYTECODE set would compile each module it
    imports from source on every start."""
    import compileall

    import godo
    compileall.compile_dir(os.path.dirname(godo.__file__), quiet=1)
    beside = Path(sys.executable).parent / "godo"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "godo"]


def best(samples: list[float]) -> float:
    return max(samples)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_load(before: bool = True) -> str:
    """The load averages, and before a run a warning when other work shares the
    CPUs: on a 2-core machine a busy neighbour moves every figure here. (After a
    run the figures include the run itself, so they only get printed.)"""
    one, five, _ = os.getloadavg()
    text = f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"
    if before and one > 0.5 * (os.cpu_count() or 1):
        text += "  -- the machine is busy: figures are noisy, compare within this run only"
    return text


def die_with_parent() -> None:
    """preexec_fn for the consumers the live harness starts: should the harness
    itself be killed outright, the kernel sends them SIGTERM, and they release
    the audit daemon pid (and godo its rules) instead of holding them forever."""
    import ctypes
    import signal
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextmanager
def busy_neighbour(on: bool):
    """With `on`, one CPU kept busy by an unrelated process (`yes > /dev/null`)
    for as long as the block runs: the targets are met on a machine where
    something else runs, not on an idle one. Stopped (by its pid) on every exit."""
    if not on:
        yield None
        return
    neighbour = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        yield neighbour
    finally:
        neighbour.terminate()
        neighbour.wait()


def run_cpu(cmd: list[str], stdout=subprocess.DEVNULL, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one whole process, from its
    start to its exit; a failure raises with its stderr."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    stderr = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {stderr.decode(errors='replace').strip()}")
    return seconds, usage.ru_utime + usage.ru_stime


def audit_socket_queued(pid: int) -> int:
    """Bytes the kernel has put in `pid`'s NETLINK_AUDIT sockets (/proc/net/netlink,
    protocol 9, matched by inode to the process's fds) that it has not read yet."""
    from godo.store.local import socket_inodes
    inodes = socket_inodes(pid)  # none when it is gone
    queued = 0
    for line in Path("/proc/net/netlink").read_text().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 10 and cols[1] == "9" and cols[9] in inodes:
            queued += int(cols[4])
    return queued


def all_threads_waiting(pid: int) -> bool:
    """Whether no thread of `pid` is running or runnable (state R): each waits in
    the kernel, for a datagram, a lock or a timer."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for tid in tids:
        try:
            state = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "R":
            return False
    return True


def wait_handled(pid: int, kernel_backlog, timeout: float, interval: float = 0.02) -> float | None:
    """Seconds until the consumer `pid` has handled every record the kernel sent it:
    the kernel holds none for it (`kernel_backlog()` 0) and none wait unread in its
    audit sockets, so what it received is what the kernel sent; then, for at most
    half a second more, until no thread of it is runnable (the last batch handled).
    None: the queues were not empty within `timeout`. A consumer's CPU read then is
    its whole cost for what it was sent. (Where its rules are still in, the
    neighbours' syscalls keep coming: the first moment it has caught up counts.)"""
    start = time.monotonic()
    while audit_socket_queued(pid) or kernel_backlog() or audit_socket_queued(pid):
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)
    caught_up = time.monotonic()
    while not all_threads_waiting(pid) and time.monotonic() - caught_up < 0.5:
        time.sleep(0.005)
    return time.monotonic() - start
