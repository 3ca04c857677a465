"""Which processes the kernel's audit can see on this boot.

A task forked while audit has never been enabled since boot (`audit_ever_enabled`
false: `enabled 0` and no `audit=1` on the kernel command line) gets no audit
context (kernel/auditsc.c, `audit_alloc`) and is never audited, whatever rules
come later; only tasks forked after the first enable are. The kernel does not say
when that was, so godo remembers it: when it finds audit disabled on a boot
without `audit=1` and no earlier note of its own, its enable is taken as the first,
and the moment is written under the run directory (a tmpfs, emptied at boot) with
the boot id. Every later start of this boot reads it back.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = "audit-first-enabled.json"
_CLK_TCK = os.sysconf("SC_CLK_TCK")

# What is known of audit's reach on this boot.
BOOT = "boot"          # audit=1 at boot: every process is audited
SINCE = "since"        # first enabled (by godo) at a moment it wrote down
FIRST = "first"        # never enabled yet: the next enable is the first
UNKNOWN = "unknown"    # enabled by someone else, or godo's note unreadable: when is not known


@dataclass(frozen=True)
class Coverage:
    """Audit's reach on this boot: processes that started before `ticks` (clock
    ticks since boot, as /proc/PID/stat's start time) are not audited."""

    kind: str
    ticks: int | None = None
    time: float | None = None  # the same moment on the wall clock

    def unaudited(self, start_ticks: int | None) -> bool:
        """Whether a process that started at `start_ticks` has no audit context."""
        return self.kind == SINCE and start_ticks is not None and start_ticks < self.ticks

    def document(self) -> dict:
        from datetime import datetime, timezone
        when = None if self.time is None else datetime.fromtimestamp(self.time, timezone.utc)
        return {"kind": self.kind, "first_enabled": when, "first_enabled_ticks": self.ticks}


def audit_at_boot(cmdline: str) -> bool:
    """Whether the kernel command line turns audit on at boot (`audit=1`, `audit=on`;
    the last one given counts, and words after `--` are init's)."""
    on = False
    for word in cmdline.split():
        if word == "--":
            break
        if word.startswith("audit="):
            on = word[6:] in ("1", "on")
    return on


def decide(cmdline: str, enabled: int, marker: dict | None, boot: str) -> Coverage:
    """Audit's reach from the kernel command line, the `enabled` godo found, and its
    note of the first enable (None: none, or unreadable when `enabled` is not 0)."""
    if audit_at_boot(cmdline):
        return Coverage(BOOT)
    if marker is not None and marker.get("boot_id") == boot:
        try:
            return Coverage(SINCE, int(marker["ticks"]), float(marker["time"]))
        except (KeyError, TypeError, ValueError):
            pass  # a note cut short: as if none were there
    if enabled == 0:
        return Coverage(FIRST)
    return Coverage(UNKNOWN)


def read_marker(run_dir: Path) -> dict | None:
    """godo's note of the first enable, or None (none, unreadable, or not JSON)."""
    try:
        raw = json.loads((run_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def marker_readable(run_dir: Path) -> bool:
    """Whether the run directory could be read (not as a user godo's 0700 keeps out);
    one not made yet holds no marker, which is an answer too."""
    return not os.path.lexists(run_dir) or os.access(run_dir, os.R_OK | os.X_OK)


def current(run_dir: Path, enabled: int, boot: str) -> Coverage:
    """Audit's reach as `godo status` tells it."""
    cmdline = read_cmdline()
    if not marker_readable(run_dir) and not audit_at_boot(cmdline):
        return Coverage(UNKNOWN)
    return decide(cmdline, enabled, read_marker(run_dir), boot)


def read_cmdline() -> str:
    try:
        return Path("/proc/cmdline").read_text()
    except OSError:
        return ""


def boot_clock() -> float:
    """Seconds since boot, on the clock /proc/PID/stat's start times count."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def remember(run_dir: Path, boot: str, enabled_at: float, wall: float) -> Coverage:
    """Write down godo's enable, at `enabled_at` on the boot clock (taken once the
    kernel had it), as the first of this boot. A process that started in that
    clock tick may have started before it: counted as before (it may be unaudited)."""
    ticks = int(enabled_at * _CLK_TCK) + 1
    path = run_dir / MARKER
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"boot_id": boot, "ticks": ticks, "time": wall, "pid": os.getpid()}, f)
    os.replace(tmp, path)
    return Coverage(SINCE, ticks, wall)
