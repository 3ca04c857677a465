"""The kernel's audit subsystem, shared by every live test on this machine: whether
it can be used here, a snapshot of its state, and exclusive use of it under a
machine-wide lock (the `live_audit` fixture, module fixtures that record once, and
`python -m tests.support.capture`), and godo started as the daemon."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

LIVE_LOCK = "/run/lock/godo-live.lock"


def live_unavailable() -> str | None:
    """Why live tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "live tests need root (CAP_AUDIT_CONTROL)"
    from godo.source import audit
    try:
        with audit.AuditControl() as control:
            status = control.status()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no audit"
        return f"the kernel's audit subsystem is unavailable: {exc}"
    if status.locked:
        return "the kernel's audit configuration is locked (enabled=2)"
    return None


def audit_snapshot() -> dict:
    """Everything a live test must leave as it found it."""
    from godo.source import audit
    with audit.AuditControl() as control:
        status = control.status()
        rules = sorted(raw.hex() for _rule, raw in control.list_rules())
    return {"enabled": status.enabled, "pid": status.pid, "backlog_limit": status.backlog_limit,
            "backlog_wait_time": status.backlog_wait_time, "failure": status.failure,
            "rate_limit": status.rate_limit, "rules": rules}


def skip_unless_required(reason: str) -> None:
    """A live test that cannot run here skips; where the live tier is required
    (GODO_REQUIRE_LIVE, as scripts/test.sh sets it), it fails."""
    if os.environ.get("GODO_REQUIRE_LIVE"):
        pytest.fail(f"GODO_REQUIRE_LIVE is set but {reason}")
    pytest.skip(reason)


@contextmanager
def exclusive_audit():
    """What `live_audit` does, for a module fixture that records once for many
    tests: skip (or fail, with GODO_REQUIRE_LIVE) without live audit, hold the
    lock, and check the kernel's audit state is given back as found."""
    reason = live_unavailable()
    if reason:
        skip_unless_required(reason)
    Path(LIVE_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with open(LIVE_LOCK, "w") as lock:
        # One live test at a time on this machine, across processes and sessions.
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = _quiet_snapshot()
        yield before
        after = audit_snapshot()
        if after != before:
            _force_restore(before)
        assert after == before, "the test left the kernel's audit state changed"


def _quiet_snapshot(timeout: float = 120.0) -> dict:
    """The audit state once nobody outside the lock (a godo started by hand, say)
    holds the stream or godo rules: a test must not start in someone else's run."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        state = audit_snapshot()
        from godo.source import audit
        busy = state["pid"] and os.path.exists(f"/proc/{state['pid']}")
        with audit.AuditControl() as control:
            ours = any(audit.GODO_KEY in rule.keys for rule, _raw in control.list_rules())
        if not busy and not ours:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"the kernel's audit stream stayed in use (daemon pid {state['pid']}, "
                        f"godo rules loaded: {ours}) for {timeout:.0f}s")
        time.sleep(0.2)


def _force_restore(before: dict) -> None:
    from godo.source import audit
    with audit.AuditControl() as control:
        control.delete_rules_with_key()
        control.set_status(enabled=before["enabled"], backlog_limit=before["backlog_limit"],
                           backlog_wait_time=before["backlog_wait_time"])


def start_daemon(store_uri: str, *args: str) -> subprocess.Popen:
    """`godo record` as a daemon (default scope: containers), once it says it is
    recording: its line comes only when every rule is in."""
    godo = subprocess.Popen([sys.executable, "-m", "godo", "record", "--mongo", store_uri, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = godo.stderr.readline()  # "" when godo ended first
    if not line.startswith("godo: recording"):
        godo.kill()
        raise AssertionError(f"godo did not start: {line}{godo.communicate()[1]}")
    return godo
