"""A generated audit.log of known size: N short-lived processes, each opening,
writing and closing M files, so that a replay into the store must hold exactly
N + 1 process documents (the shell that spawned them is one) and N * M file
documents."""

from __future__ import annotations

from pathlib import Path

SHELL, FIRST_CHILD = 100, 1000


def _stamp(i: int, serial: int) -> bytes:
    return b"audit(%d.%03d:%d): " % (1_700_000_000 + i // 1000, i % 1000, serial)


def _syscall(i, serial, nr, pid, *, exit=b"0", a=(b"0", b"0", b"0", b"0"), items=0,
             comm=b"true", exe=b"/usr/bin/true", returns=True) -> bytes:
    result = b"success=yes exit=%s " % exit if returns else b""
    return (b"type=SYSCALL msg=" + _stamp(i, serial)
            + b"arch=c000003e syscall=%d %sa0=%s a1=%s a2=%s a3=%s items=%d ppid=%d pid=%d "
              b"auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 "
              b"comm=\"%s\" exe=\"%s\" key=\"godo\"\n"
            % (nr, result, *a, items, SHELL if pid != SHELL else 1, pid, comm, exe))


def _path(i, serial, item, name, nametype) -> bytes:
    return (b"type=PATH msg=" + _stamp(i, serial) + b"item=%d name=\"%s\" inode=%d dev=fe:00 "
            b"mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 "
            b"cap_fver=0 cap_frootid=0\n" % (item, name, item + 2, nametype))


def process_records(i: int, serial: int, files: int, pad: int = 0) -> tuple[bytes, int]:
    """One process: cloned by the shell, execs, opens/writes/closes `files` files
    (`pad` bytes more of path each), exits."""
    child = FIRST_CHILD + i
    out = [_syscall(i, serial, 56, SHELL, exit=b"%d" % child, a=(b"1200011", b"0", b"0", b"0"),
                    comm=b"sh", exe=b"/usr/bin/dash")]
    serial += 1
    out.append(_syscall(i, serial, 59, child, items=1))
    out.append(b"type=EXECVE msg=" + _stamp(i, serial) + b'argc=2 a0="true" a1="%d"\n' % i)
    out.append(b"type=CWD msg=" + _stamp(i, serial) + b'cwd="/work"\n')
    out.append(_path(i, serial, 0, b"/usr/bin/true", b"NORMAL"))
    serial += 1
    for f in range(files):
        name = b"/work/out/%d/%d%s" % (i, f, b"x" * pad)
        out.append(_syscall(i, serial, 257, child, exit=b"3", a=(b"ffffff9c", b"7ffd0000", b"241", b"1b6"),
                            items=2))
        out.append(b"type=CWD msg=" + _stamp(i, serial) + b'cwd="/work"\n')
        out.append(_path(i, serial, 0, b"/work/out/%d/" % i, b"PARENT"))
        out.append(_path(i, serial, 1, name, b"CREATE"))
        serial += 1
        for nr, ret in ((1, b"5"), (3, b"0")):
            out.append(_syscall(i, serial, nr, child, exit=ret, a=(b"3", b"0", b"0", b"0")))
            serial += 1
    out.append(_syscall(i, serial, 231, child, returns=False))
    return b"".join(out), serial + 1


def write_log(path: Path, processes: int, files: int, pad: int = 0, first: int = 0) -> dict:
    """Write the log; the documents a replay of it must store, per collection.
    `first`: the number of its first process (logs with different `first` and no
    overlap share no document but the shell's)."""
    serial = 1 + first * (3 + 3 * files)
    with open(path, "wb") as out:
        for i in range(first, first + processes):
            records, serial = process_records(i, serial, files, pad)
            out.write(records)
    return {"processes": processes + 1, "files": processes * files}
