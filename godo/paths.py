"""Where godo keeps its data: one private directory, created 0700."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ConfigError


def data_dir() -> Path:
    """GODO_DATA_DIR, else /var/lib/godo for root, else ~/.local/share/godo."""
    configured = os.environ.get("GODO_DATA_DIR")
    if configured:
        path = Path(configured)
    elif os.geteuid() == 0:
        path = Path("/var/lib/godo")
    else:
        path = Path.home() / ".local/share/godo"
    return private_dir(path)


def run_dir() -> Path:
    """Where a live run writes down what it changed in the kernel: one place per
    host (GODO_RUN_DIR, else /run/godo), whatever data directory a run uses, so
    the next start finds a dead run's state and never mistakes a live one's
    rules for stale. /run is emptied at boot, as the kernel's rules are."""
    configured = os.environ.get("GODO_RUN_DIR")
    if configured:
        return private_dir(Path(configured))
    if os.geteuid() == 0:
        return private_dir(Path("/run/godo"))
    return data_dir()


def private_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"cannot use data directory {path}: {exc.strerror}") from None
    return path


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def hostname() -> str:
    return os.uname().nodename


# A host name as a run and its documents name their host: a DNS name, an address
# (auditd's name_format numeric, IPv6 too) or a short user-set name; no spaces,
# no control or other bytes a terminal would act on.
_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]{0,252}")


def is_host_name(name: str) -> bool:
    return bool(_HOST_NAME.fullmatch(name))
