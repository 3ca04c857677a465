"""The kernel's audit control plane: rules in and out exactly, settings restored
on every exit path, a dead run cleaned up by the next one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from godo.errors import AuditBusyError, GodoError
from godo.source import audit as A
from godo.source import rules as R
from godo.source.rules import native_arch
from godo.source.session import AuditSession, SessionState, Settings, recover_stale


def test_rules_go_in_and_come_out_exactly(live_audit, tmp_path):
    with AuditSession(tmp_path / "state.json") as session:
        rules = R.build_rules(native_arch(), exclude_pids={os.getpid()})
        session.add_rules(rules)
        with A.AuditControl() as control:
            ours = [rule for rule, _raw in control.list_rules() if "godo" in rule.keys]
        assert [r.syscalls for r in ours] == [r.syscalls for r in rules]
        status = session.status()
        assert status.enabled == 1 and status.pid == os.getpid()
        assert status.backlog_limit >= 65536 and status.backlog_wait_time == 0
        assert (tmp_path / "state.json").exists()
    assert not (tmp_path / "state.json").exists()


def test_an_exception_inside_a_session_still_restores_everything(live_audit, tmp_path):
    with pytest.raises(RuntimeError):
        with AuditSession(tmp_path / "state.json") as session:
            session.add_rules(R.build_rules(native_arch()))
            raise RuntimeError("boom")


def test_a_sigkilled_run_is_cleaned_up_by_the_next_start(live_audit, tmp_path):
    state = tmp_path / "state.json"
    child = subprocess.Popen([sys.executable, "-c", f"""
import os, sys, time
from pathlib import Path
from godo.source.session import AuditSession
from godo.source import rules
from godo.source import rules as syscalls
s = AuditSession(Path({str(state)!r}), backlog_limit=live_backlog)
s.start()
s.add_rules(rules.build_rules(syscalls.native_arch()))
print("ready", flush=True)
time.sleep(60)
""".replace("live_backlog", str(live_audit["backlog_limit"] + 4096))],
                             stdout=subprocess.PIPE, text=True)
    with child:
        try:
            assert child.stdout.readline().strip() == "ready"
            with A.AuditControl() as control:
                assert any("godo" in r.keys for r, _ in control.list_rules())
        finally:
            child.kill()
    assert SessionState.load(state).pid == child.pid
    with A.AuditControl() as control:
        removed = recover_stale(control, state)
        assert removed >= 6
        assert not any("godo" in r.keys for r, _ in control.list_rules())
        status = control.status()
    assert status.backlog_limit == live_audit["backlog_limit"]
    assert status.enabled == live_audit["enabled"]
    assert not state.exists()


def test_another_audit_daemon_gets_a_clear_refusal(standin_daemon, tmp_path):
    with pytest.raises(AuditBusyError, match="use --multicast"):
        AuditSession(tmp_path / "s.json").start()
    # Multicast coexists with the owner.
    with AuditSession(tmp_path / "m.json", multicast=True) as session:
        assert session.status().pid == standin_daemon


def test_a_live_godo_is_never_cleaned_up_under_it(live_audit, tmp_path):
    state = tmp_path / "state.json"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "godo"])
    try:
        SessionState(sleeper.pid, "boot", Settings(0, 64, 0)).save(state)
        with A.AuditControl() as control, pytest.raises(GodoError, match="another godo is recording"):
            recover_stale(control, state)
        assert state.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
