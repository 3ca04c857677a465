"""An audit log made by hand for the store's bounds: one process that execs again
and again with a huge argv. The records
are as the kernel writes them (an EXECVE record per few arguments, the first
with `argc`), so `godo replay` takes them like a captured log."""

from __future__ import annotations

from pathlib import Path

SHELL, CHILD = 100, 1000


class _Log:
    def __init__(self):
        self.lines: list[bytes] = []
        self.serial = 1
        self.ms = 0

    def stamp(self) -> bytes:
        return b"audit(1700000000.%03d:%d): " % (self.ms % 1000, self.serial)

    def record(self, kind: bytes, body: bytes) -> None:
        self.lines.append(b"type=" + kind + b" msg=" + self.stamp() + body + b"\n")

    def syscall(self, nr: int, pid: int, ppid: int, *, exit: int = 0, a0: bytes = b"0",
                items: int = 0, comm: bytes = b"prog", returns: bool = True) -> None:
        result = b"success=yes exit=%d " % exit if returns else b""
        self.record(b"SYSCALL", b"arch=c000003e syscall=%d %sa0=%s a1=0 a2=0 a3=0 items=%d "
                    b"ppid=%d pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
                    b"fsgid=0 tty=(none) ses=1 comm=\"%s\" exe=\"/usr/bin/%s\" key=\"godo\""
                    % (nr, result, a0, items, ppid, pid, comm, comm))

    def path(self, item: int, name: bytes, nametype: bytes) -> None:
        self.record(b"PATH", b'item=%d name="%s" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 '
                    b"rdev=00:00 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
                    b"cap_frootid=0" % (item, name, nametype))

    def end(self) -> None:
        self.record(b"PROCTITLE", b"proctitle=70726F6700")
        self.serial += 1
        self.ms += 1

    def spawn(self) -> None:
        self.syscall(56, SHELL, 1, exit=CHILD, a0=b"1200011", comm=b"sh")
        self.end()

    def exit(self) -> None:
        self.syscall(231, CHILD, SHELL, returns=False)
        self.end()

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(self.lines))
        return path


def argv_of(run: int, nargs: int, arg_bytes: int) -> list[str]:
    """The argv of one exec: its program, `nargs` middle arguments, its last."""
    middle = [f"{run}:{i:05d}:".ljust(arg_bytes, "x") for i in range(nargs)]
    return [f"/usr/bin/prog{run}", *middle, f"last{run}"]


def many_huge_execs(path: Path, runs: int = 9, nargs: int = 300, arg_bytes: int = 7000) -> Path:
    """A process that execs `runs` times, each with about nargs * arg_bytes of argv
    (9 x 2 MiB by default, within ARG_MAX): 2 processes, 9 execs."""
    log = _Log()
    log.spawn()
    for run in range(runs):
        argv = argv_of(run, nargs, arg_bytes)
        log.syscall(59, CHILD, SHELL, items=2)
        quoted = [b'a%d="%s"' % (i, arg.encode()) for i, arg in enumerate(argv)]
        log.record(b"EXECVE", b"argc=%d " % len(argv) + quoted[0])
        for arg in quoted[1:]:
            log.record(b"EXECVE", arg)
        log.record(b"CWD", b'cwd="/work"')
        log.path(0, argv[0].encode(), b"NORMAL")
        log.end()
    log.exit()
    return log.write(path)
