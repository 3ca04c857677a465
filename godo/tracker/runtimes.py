"""Container runtimes as the tracker meets them: which process is a runtime's
shim, and which container a process belongs to."""

from __future__ import annotations

import re
from pathlib import Path

_SHIM_NAMES = ("containerd-shim", "runc", "conmon", "crun")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def shim_container_id(exe: str | None, argv: list[str] | None) -> str | None:
    """A runtime shim names its container: containerd-shim `-id ID`, conmon
    `-c ID`/`--cid ID`, runc/crun `... run|create [opts] ID`."""
    name = (exe or "").rsplit("/", 1)[-1]
    if argv and not name.startswith(_SHIM_NAMES):
        name = argv[0].rsplit("/", 1)[-1]
    if not name.startswith(_SHIM_NAMES) or not argv:
        return None
    for flag in ("-id", "--id", "-c", "--cid"):
        if flag in argv:
            index = argv.index(flag)
            if index + 1 < len(argv) and _HEX64.fullmatch(argv[index + 1]):
                return argv[index + 1]
    for arg in reversed(argv[1:]):
        if _HEX64.fullmatch(arg):
            return arg
    return None


def cgroup_container_id(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    found = _HEX64.findall(text)
    return found[-1] if found else None
