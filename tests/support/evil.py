"""A log whose every name a terminal would act on: what anyone who can run a program
on a recorded host can make the kernel write (argv, comm, exe, cwd and file names
are theirs), hex-encoded as the kernel encodes them. Records in the kernel's own
layout, as tests/data's captured ones."""

from __future__ import annotations

# The issue's own path (blink, cursor up, erase the line, OSC 52 clipboard write, BEL),
# then CR, DEL, a C1 control, a right-to-left override, invalid UTF-8 and rich markup.
EVIL_PATH = (b"/srv/\x1b[5mblink/evil\x1b[1A\x1b[2Kname\x1b]52;c;ZWNobyBwd25lZA==\x07"
             b"\rhidden\x7f\xc2\x9b\xe2\x80\xaeright\xff\xfe[bold]x[/bold].txt")
EVIL_CWD = b"/tmp/\x1b[31mred\x1b[0m dir"
EVIL_COMM = b"\x1b[2Jcls"
EVIL_EXE = b"/usr/bin/\x1b]0;title\x07evil"
EVIL_ARGV = [b"evil", b"--opt=\x1b[1A\x1b[2K", b"\x07bell\rreturn", b"\xff\xfe", b"[red]markup[/red]"]
# Every control byte but NUL and newline (a record is one line), and DEL.
CONTROLS = bytes(range(1, 10)) + bytes(range(11, 32)) + b"\x7f"

_TASK = ("ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
         "tty=pts0 ses=7 comm={comm} exe={exe} key=\"godo\"")


def _hex(raw: bytes) -> str:
    return raw.hex().upper()


def evil_log(pid: int = 4242, start: float = 1795769600.0) -> bytes:
    """One process: exec with these argv, cwd and exe, an open of EVIL_PATH (and
    of a name holding every control byte) for writing, a write, the closes, its exit."""
    comm, exe = _hex(EVIL_COMM), _hex(EVIL_EXE)
    task = _TASK.format(pid=pid, comm=comm, exe=exe)
    lines, serial = [], 1000

    def event(ts: float, syscall: str, extra: list[str]) -> None:
        nonlocal serial
        serial += 1
        stamp = f"msg=audit({ts:.3f}:{serial}):"
        lines.append(f"type=SYSCALL {stamp} arch=c000003e {syscall} {task}")
        lines.extend(f"type={kind} {stamp} {body}" for kind, body in extra)

    argv = " ".join(f"a{i}={_hex(a)}" for i, a in enumerate(EVIL_ARGV))
    path_fields = "inode=1 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00"
    event(start, "syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1", [
        ("EXECVE", f"argc={len(EVIL_ARGV)} {argv}"), ("CWD", f"cwd={_hex(EVIL_CWD)}"),
        ("PATH", f"item=0 name={_hex(EVIL_EXE)} {path_fields} nametype=NORMAL")])
    for fd, name in ((3, EVIL_PATH), (4, b"/tmp/ctl" + CONTROLS + b".txt")):
        event(start + 0.001 * fd, f"syscall=257 success=yes exit={fd} a0=ffffff9c a1=1 a2=241 "
              "a3=1a4 items=2", [
                  ("CWD", f"cwd={_hex(EVIL_CWD)}"),
                  ("PATH", f"item=0 name=\"/\" {path_fields} nametype=PARENT"),
                  ("PATH", f"item=1 name={_hex(name)} {path_fields} nametype=CREATE")])
    event(start + 0.005, "syscall=1 success=yes exit=5 a0=3 a1=2 a2=5 a3=0 items=0", [])
    for fd in (3, 4):
        event(start + 0.006 + 0.001 * fd, f"syscall=3 success=yes exit=0 a0={fd} a1=0 a2=0 a3=0 "
              "items=0", [])
    event(start + 0.02, "syscall=231 a0=0 a1=0 a2=0 a3=0 items=0", [])
    return "".join(line + "\n" for line in lines).encode()
