"""Shared fixtures: both hot-path twins, the live-kernel guard, the real store."""

from __future__ import annotations

import fcntl
import importlib
import os
import signal
import socket
import time
import types
from contextlib import contextmanager
from pathlib import Path

import pytest

from godo import twins

DATA = Path(__file__).parent / "data"
LIVE_LOCK = "/run/lock/godo-live.lock"


# -- the two twins --------------------------------------------------------------

def _twin(name: str) -> types.SimpleNamespace:
    side = {"compiled": 0, "pure": 1}[name]
    if name == "compiled" and twins.NO_EXTENSIONS:
        pytest.skip("GODO_NO_EXTENSIONS is set: only the pure-Python twin is under test")
    # A compiled twin that was meant to load and did not is a failure, not a skip.
    core = importlib.import_module(twins.TWINS["hotpath"][side])
    receive = importlib.import_module(twins.TWINS["receive"][side])
    return types.SimpleNamespace(
        name=name, Pipeline=core.Pipeline, Activity=core.Activity,
        parse_record=core.parse_record, Receiver=receive.Receiver)


@pytest.fixture(params=["compiled", "pure"])
def twin(request) -> types.SimpleNamespace:
    """Each hot-path test runs once against each twin: one contract, one suite."""
    return _twin(request.param)


# -- the live kernel --------------------------------------------------------------

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


@pytest.fixture
def live_audit():
    """Exclusive use of the kernel's audit subsystem for one test, which must give
    back exactly the state it found (rules, daemon pid, settings)."""
    with exclusive_audit() as before:
        yield before


@contextmanager
def exclusive_audit():
    """What `live_audit` does, for a module fixture that records once for many
    tests: skip (or fail, with GODO_REQUIRE_LIVE) without live audit, hold the
    lock, and check the kernel's audit state is given back as found."""
    reason = live_unavailable()
    if reason:
        if os.environ.get("GODO_REQUIRE_LIVE"):
            pytest.fail(f"GODO_REQUIRE_LIVE is set but {reason}")
        pytest.skip(reason)
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


@pytest.fixture
def standin_daemon(live_audit):
    """Another process registered as the audit daemon, as auditd would be; its pid.
    Gone afterwards, and the kernel's memory of it with it."""
    from godo.source import audit as A
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, A.NETLINK_AUDIT)
            sock.bind((0, 0))
            with A.AuditControl() as control:
                control.set_status(pid=os.getpid(), sock=sock)
            os.write(ready_w, b"1")
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        yield pid
    finally:
        os.close(ready_r)
        os.close(ready_w)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with A.AuditControl() as control:
            if control.status().pid == pid:
                # The kernel forgets a dead daemon only when it next fails to send to
                # it; a registration of our own, then none, settles it.
                probe = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, A.NETLINK_AUDIT)
                probe.bind((0, 0))
                control.set_status(pid=os.getpid(), sock=probe)
                control.set_status(pid=0, sock=probe)
                probe.close()
            control.set_status(enabled=live_audit["enabled"])


def _force_restore(before: dict) -> None:
    from godo.source import audit
    with audit.AuditControl() as control:
        control.delete_rules_with_key()
        control.set_status(enabled=before["enabled"], backlog_limit=before["backlog_limit"],
                           backlog_wait_time=before["backlog_wait_time"])


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "live_audit" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)


# -- the real store: embedded FerretDB ---------------------------------------------

@pytest.fixture(scope="session")
def ferret_uri(tmp_path_factory):
    """The URI of one embedded FerretDB for the whole session. Missing binary: a
    skip, or a failure when GODO_REQUIRE_STORE is set."""
    from godo.errors import StoreError
    from godo.store.ferret import EmbeddedFerret, find_binary
    try:
        find_binary()
    except StoreError as exc:
        if os.environ.get("GODO_REQUIRE_STORE"):
            pytest.fail(f"GODO_REQUIRE_STORE is set but {exc}")
        pytest.skip(f"store tests need FerretDB: {exc}")
    with EmbeddedFerret(tmp_path_factory.mktemp("ferretdb")) as ferret:
        yield ferret.uri


@pytest.fixture
def store_db(ferret_uri):
    """A database of its own for each test (one SQLite file in FerretDB), dropped after."""
    import uuid

    import pymongo
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()
