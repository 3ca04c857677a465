"""The raw log rotates as auditd's audit.log does: on SIGUSR1 or past a size,
keeping `keep` files (auditd's num_logs, the one written included); a file
logrotate moved away is only reopened; a daemon's SIGHUP reopens and does not stop."""

from __future__ import annotations

import os
import signal

from godo.run.live import _Stop
from godo.source.rawlog import RawLog


def _files(tmp_path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}


def test_rotation_keeps_num_logs_files_the_oldest_falling_off(tmp_path):
    path = tmp_path / "audit.raw"
    log = RawLog(str(path), keep=3)
    for n in range(4):
        log.write(b"run %d\n" % n)
        log.request_rotate()
    log.write(b"run 4\n")
    log.close()
    assert _files(tmp_path) == {"audit.raw": b"run 4\n", "audit.raw.1": b"run 3\n",
                                "audit.raw.2": b"run 2\n"}
    assert log.rotations == 4


def test_a_size_limit_rotates_before_the_write_that_would_pass_it(tmp_path):
    path = tmp_path / "audit.raw"
    log = RawLog(str(path), keep=2, max_bytes=10)
    for line in (b"12345\n", b"67890\n", b"abcde\n"):
        log.write(line)
    log.close()
    assert _files(tmp_path) == {"audit.raw": b"abcde\n", "audit.raw.1": b"12345\n67890\n"}


def test_below_two_files_or_after_logrotate_moved_it_only_reopens(tmp_path):
    path = tmp_path / "audit.raw"
    log = RawLog(str(path), keep=0, max_bytes=1)
    log.write(b"a\n")
    log.request_rotate()
    log.write(b"b\n")
    log.flush()
    assert _files(tmp_path) == {"audit.raw": b"a\nb\n"}
    # logrotate's way: it moved the file, then signalled; godo's rotation with keep
    # 3 must not shift logrotate's .1.
    log.close()
    log = RawLog(str(path), keep=3)
    os.rename(path, tmp_path / "audit.raw.1")
    log.request_rotate()
    log.write(b"c\n")
    log.close()
    assert _files(tmp_path) == {"audit.raw": b"c\n", "audit.raw.1": b"a\nb\n"}


def test_sigusr1_rotates_and_a_daemons_sighup_reopens_without_stopping(tmp_path):
    path = tmp_path / "audit.raw"
    log = RawLog(str(path), keep=3)
    before = signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGHUP)
    stop = _Stop()
    stop.install()
    try:
        stop.keep_running_on_hup(True, log)
        log.write(b"one\n")
        os.kill(os.getpid(), signal.SIGUSR1)
        log.write(b"two\n")
        os.rename(path, tmp_path / "moved")
        os.kill(os.getpid(), signal.SIGHUP)
        log.write(b"three\n")
        assert stop.requested == 0, "SIGHUP does not stop a daemon"
    finally:
        stop.restore()
        log.close()
    assert (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGHUP)) == before
    assert _files(tmp_path) == {"audit.raw": b"three\n", "audit.raw.1": b"one\n", "moved": b"two\n"}


def test_a_commands_sighup_still_ends_its_run(tmp_path):
    stop = _Stop()
    stop.install()
    try:
        stop.keep_running_on_hup(False, None)
        os.kill(os.getpid(), signal.SIGUSR1)   # no raw log: ignored, not fatal
        os.kill(os.getpid(), signal.SIGHUP)
        assert stop.requested == signal.SIGHUP
    finally:
        stop.restore()
