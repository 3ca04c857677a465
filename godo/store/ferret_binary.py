"""The FerretDB binary godo runs (as root, perhaps), and only one that no other
user can change: found through $GODO_FERRETDB, the wheel, the build script's cache
or PATH, each checked with every directory above it."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

from ..errors import StoreError
from ..paths import check_owned, check_parents

FERRETDB_VERSION = "v1.24.2"
_DATA = Path(__file__).resolve().parent.parent / "data"
# Where a wheel carries the binary its build made (setup.py), beside the package.
PACKAGED_BINARY = Path(__file__).resolve().parent.parent / "_bin" / "ferretdb"


def _build_name() -> str:
    """godo's build of FerretDB (godo/data/build-ferretdb.sh: its bugs fixed, its
    queries pushed down), named as the script names it: the version and a digest of
    the script and its Go files, so that changed patches never reuse a stale cache."""
    sources = [_DATA / "build-ferretdb.sh", *sorted((_DATA / "ferretdb").glob("*.go"))]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    return f"{FERRETDB_VERSION}-godo-{digest[:12]}"


FERRETDB_BUILD = _build_name()


def cached_binary() -> Path:
    """Where `godo store setup` (godo/data/build-ferretdb.sh) puts the binary."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "godo" / f"ferretdb-{FERRETDB_BUILD}" / "ferretdb"


def trusted_executable(path: str | os.PathLike, what: str) -> str:
    """`path` resolved, if godo may run it (as root, perhaps): a regular file that
    root or we own and no one else can write, in directories alike (and so is
    the directory of a link to it). The resolved path is what is run."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise StoreError(f"{what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or not os.access(real, os.X_OK):
        raise StoreError(f"{what} {path} is not an executable file")
    check_owned(real, st, what)
    check_parents(real, what)
    if real != os.path.abspath(path):
        check_parents(os.path.abspath(path), what)
    return real


def find_binary() -> str:
    """$GODO_FERRETDB, else the one the wheel carries, else the build script's
    cache, else `ferretdb` on PATH; refused unless only root or we can change it
    (see `trusted_executable`)."""
    configured = os.environ.get("GODO_FERRETDB")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return trusted_executable(configured, "GODO_FERRETDB")
        raise StoreError(f"GODO_FERRETDB={configured} is not an executable file")
    if os.access(PACKAGED_BINARY, os.X_OK):
        return trusted_executable(PACKAGED_BINARY, "FerretDB binary in the wheel")
    cached = cached_binary()
    if os.access(cached, os.X_OK):
        return trusted_executable(cached, "FerretDB binary")
    on_path = shutil.which("ferretdb")
    if on_path:
        return trusted_executable(on_path, "FerretDB binary on PATH")
    raise StoreError(f"FerretDB {FERRETDB_VERSION} is not installed: run `godo store setup` "
                     "(it builds it with Go), or give a MongoDB URI with --mongo or GODO_MONGO_URI")


def nice_binary() -> str | None:
    """`nice` from the system's own directories (never a PATH entry someone else
    could write), checked like the server's binary."""
    for candidate in ("/usr/bin/nice", "/bin/nice"):
        if os.path.exists(candidate):
            return trusted_executable(candidate, "nice")
    return None


def reports_version(binary: str) -> bool:
    """Whether `binary` is FerretDB of the version godo runs."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"version: {FERRETDB_VERSION}" in out.splitlines()
