"""A /proc of made-up processes, for the tracker's looks at what ran before godo."""

from __future__ import annotations

from pathlib import Path


def fake_process(proc: Path, pid: int, ppid: int, ticks: int, argv: list[str]) -> None:
    """/proc/PID as the tracker reads it: stat (start time in clock ticks since
    boot), cmdline and the ids in status."""
    base = proc / str(pid)
    base.mkdir(parents=True)
    comm = argv[0].rsplit("/", 1)[-1]
    # stat: after "(comm) " come state, ppid, 17 fields, then the start time in ticks
    (base / "stat").write_text(f"{pid} ({comm}) S {ppid} " + "0 " * 17 + f"{ticks} 0 0\n")
    (base / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (base / "status").write_text("Name:\t%s\nUid:\t0\t0\t0\t0\n" % comm)
