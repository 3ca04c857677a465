"""What the fault-injection tests of every tier share: waiting for a condition, and
the environment godo runs in (a data dir of the test's own, no database or config
of the machine's)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _wait(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_MONGO_URI", "GODO_CONFIG")}
    env["GODO_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env
