"""The recording daemon's raw log, rotated on SIGUSR1 as auditd's log is, and a
SIGHUP that reopens it instead of stopping the daemon (the live kernel's stream)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from support.cli import GODO, _config_file
from test_cli_live import _wait_until_recording


def _until(done, what: str, daemon: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        # Activity for the host-wide rules to record.
        subprocess.run(["sh", "-c", "true"], check=True)
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            raise AssertionError(f"{what}: {daemon.communicate()[1]}")
        time.sleep(0.1)


def test_sigusr1_rotates_the_raw_log_and_sighup_keeps_the_daemon(live_audit, env, tmp_path):
    raw = tmp_path / "audit.raw"
    config = _config_file(tmp_path, f'[record]\nraw_log = "{raw}"\nraw_log_keep = 3\n')
    with subprocess.Popen(GODO + ["record", "--config", config, "--scope", "host", "--store", "null"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as daemon:
        try:
            _wait_until_recording(daemon)
            _until(lambda: raw.stat().st_size > 0, "nothing written", daemon)
            daemon.send_signal(signal.SIGUSR1)
            rotated = Path(f"{raw}.1")
            _until(lambda: rotated.exists() and raw.exists() and raw.stat().st_size > 0,
                   "SIGUSR1 did not rotate", daemon)
            # logrotate's way: move the file, then SIGHUP: it is reopened, not shifted.
            moved = tmp_path / "moved"
            raw.rename(moved)
            daemon.send_signal(signal.SIGHUP)
            _until(lambda: raw.exists() and raw.stat().st_size > 0, "SIGHUP did not reopen", daemon)
            assert daemon.poll() is None, "SIGHUP does not stop the daemon"
            assert not Path(f"{raw}.2").exists()
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    lines = rotated.read_bytes().splitlines() + moved.read_bytes().splitlines()
    assert lines and all(line.startswith(b"type=") for line in lines)
