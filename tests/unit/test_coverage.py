"""Audit's reach on a fresh boot: only tasks forked after audit's first enable of a
boot are audited (kernel/auditsc.c, audit_alloc). Which enable is the first (the
kernel command line, what godo found, its own note under the run directory), and
the processes in scope that started before it, marked `audited: false`."""

from __future__ import annotations

import pytest

from godo.source import coverage as cov
from godo.tracker import Scope
from support.fakeproc import fake_process

BOOT = "4801fbb1-133e-4aca-9c63-189162f8926c"
NO_AUDIT = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet"


@pytest.mark.parametrize("cmdline, on", [
    (NO_AUDIT, False),
    (NO_AUDIT + " audit=1", True),
    (NO_AUDIT + " audit=on", True),
    (NO_AUDIT + " audit=0", False),
    (NO_AUDIT + " audit=1 audit=0", False),          # the last one given counts
    (NO_AUDIT + " audit_backlog_limit=8192", False),
    (NO_AUDIT + " -- audit=1", False),               # after --: init's, not the kernel's
])
def test_audit_at_boot_reads_the_kernel_command_line(cmdline, on):
    assert cov.audit_at_boot(cmdline) is on


def test_audit_on_at_boot_reaches_every_process():
    reach = cov.decide(NO_AUDIT + " audit=1", 0, None, BOOT)
    assert reach.kind == cov.BOOT and not reach.unaudited(0)


def test_found_disabled_without_a_note_the_next_enable_is_the_first():
    reach = cov.decide(NO_AUDIT, 0, None, BOOT)
    assert reach.kind == cov.FIRST and not reach.unaudited(0), "no moment yet: nothing marked"


def test_found_enabled_without_a_note_is_unknown():
    """Someone else enabled it on this boot, without audit=1: when is not known."""
    assert cov.decide(NO_AUDIT, 1, None, BOOT).kind == cov.UNKNOWN
    assert cov.decide(NO_AUDIT, 2, None, BOOT).kind == cov.UNKNOWN


def test_the_note_of_this_boot_gives_the_moment_whatever_is_found(tmp_path):
    reach = cov.remember(tmp_path, BOOT, enabled_at=12.345, wall=1795769600.0)
    assert (tmp_path / cov.MARKER).stat().st_mode & 0o777 == 0o600
    ticks = int(12.345 * cov._CLK_TCK) + 1
    assert (reach.kind, reach.ticks, reach.time) == (cov.SINCE, ticks, 1795769600.0)
    for enabled in (0, 1):
        again = cov.decide(NO_AUDIT, enabled, cov.read_marker(tmp_path), BOOT)
        assert again == reach
    assert reach.unaudited(ticks - 1) and not reach.unaudited(ticks)
    assert not reach.unaudited(None)
    # In the tick of the enable: it may have started before it (counted unaudited).
    assert reach.unaudited(int(12.345 * cov._CLK_TCK))
    doc = reach.document()
    assert doc["kind"] == "since" and doc["first_enabled"].timestamp() == 1795769600.0


def test_a_note_of_another_boot_or_cut_short_is_no_note(tmp_path):
    cov.remember(tmp_path, "another-boot", enabled_at=1.0, wall=1.0)
    assert cov.decide(NO_AUDIT, 0, cov.read_marker(tmp_path), BOOT).kind == cov.FIRST
    (tmp_path / cov.MARKER).write_text('{"boot_id": "%s", "ticks": ' % BOOT)
    assert cov.read_marker(tmp_path) is None
    assert cov.decide(NO_AUDIT, 0, {"boot_id": BOOT, "ticks": "x"}, BOOT).kind == cov.FIRST


def test_status_cannot_read_the_note_of_a_run_directory_kept_from_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cov, "marker_readable", lambda run_dir: False)
    monkeypatch.setattr(cov, "read_cmdline", lambda: NO_AUDIT)
    assert cov.current(tmp_path, 0, BOOT).kind == cov.UNKNOWN
    monkeypatch.setattr(cov, "read_cmdline", lambda: NO_AUDIT + " audit=1")
    assert cov.current(tmp_path, 0, BOOT).kind == cov.BOOT


# -- the processes that started before it ---------------------------------------------

def test_processes_in_scope_older_than_the_first_enable_are_marked_and_counted(twin, tmp_path):
    from support.capture import DocStore
    store = DocStore()
    tracker = twin.Tracker(store, host="h", boot_id=BOOT, scope=Scope("host"), run="r")
    fake_process(tmp_path, 1, 0, 10, ["/sbin/init"])
    fake_process(tmp_path, 300, 1, 5000, ["/usr/bin/containerd"])
    fake_process(tmp_path, 400, 1, 9000, ["/usr/sbin/sshd"])      # forked after the enable
    assert tracker.seed_from_proc(str(tmp_path), unaudited_before=6000) == 3
    assert tracker.counts["unaudited"] == 2
    assert {p.pid: p.audited for p in tracker.procs.values()} == {1: False, 300: False, 400: True}
    tracker.finish(100.0)
    docs = {d["pid"]: d for d in store.docs("processes")}
    assert docs[1]["audited"] is False and docs[300]["audited"] is False
    assert "audited" not in docs[400], "only where it is false"


def test_no_moment_known_marks_nothing(twin, tmp_path):
    from support.capture import DocStore
    tracker = twin.Tracker(DocStore(), host="h", boot_id=BOOT, scope=Scope("host"), run="r")
    fake_process(tmp_path, 1, 0, 10, ["/sbin/init"])
    tracker.seed_from_proc(str(tmp_path), unaudited_before=None)
    assert tracker.counts["unaudited"] == 0 and tracker.procs[1].audited


def test_the_warning_is_one_line_naming_them_and_how_to_fix_it(twin, tmp_path, capsys):
    from godo.run.live import _warn_unaudited
    from support.capture import DocStore
    tracker = twin.Tracker(DocStore(), host="h", boot_id=BOOT, scope=Scope("host"), run="r")
    for pid in range(10, 18):
        fake_process(tmp_path, pid, 1, 100 + pid, ["/usr/bin/\x1b[2Jd%d" % pid])
    fake_process(tmp_path, 30, 1, 9000, ["/usr/bin/late"])
    tracker.seed_from_proc(str(tmp_path), unaudited_before=1000)
    _warn_unaudited(tracker, cov.Coverage(cov.SINCE, 1000, 1795769600.0))
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("godo: 8 processes in scope started before audit was first enabled")
    assert "10 \\x1b[2Jd10, 11 \\x1b[2Jd11" in line and "and 3 more" in line
    assert "late" not in line and line.endswith("boot with audit=1 to record them")


def test_no_warning_when_every_process_is_audited(twin, tmp_path, capsys):
    from godo.run.live import _warn_unaudited
    from support.capture import DocStore
    tracker = twin.Tracker(DocStore(), host="h", boot_id=BOOT, scope=Scope("host"), run="r")
    fake_process(tmp_path, 10, 1, 100, ["/bin/x"])
    tracker.seed_from_proc(str(tmp_path))
    _warn_unaudited(tracker, cov.Coverage(cov.BOOT))
    assert capsys.readouterr().err == ""
