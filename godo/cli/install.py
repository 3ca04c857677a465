"""What a wheel install needs besides itself: `godo store setup` (the embedded
FerretDB: the one a platform wheel carries, else located or built with Go) and `godo install-service` (the systemd unit
and the config file, naming this godo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError, StoreError

DATA = Path(__file__).resolve().parent.parent / "data"
UNIT = "etc/systemd/system/godo.service"
CONFIG = "etc/godo/godo.toml"


# -- godo store setup ----------------------------------------------------------------------------

def cmd_store_setup(args) -> int:
    from ..store import ferret, ferret_binary
    binary = _usable_binary(ferret)
    if binary is None:
        binary = _build(ferret)
        print(f"godo: built FerretDB {ferret.FERRETDB_VERSION} at {binary}", file=sys.stderr)
    else:
        carried = " (carried by the wheel)" if binary == str(ferret_binary.PACKAGED_BINARY) else ""
        print(f"godo: FerretDB {ferret.FERRETDB_VERSION} found at {binary}{carried}", file=sys.stderr)
    _check_it_answers(ferret, binary)
    print(binary)
    return 0


def _usable_binary(ferret) -> str | None:
    """The binary godo would run, if there is one that reports the right version."""
    try:
        binary = ferret.find_binary()
    except StoreError:
        return None
    if ferret.reports_version(binary):
        return binary
    if os.environ.get("GODO_FERRETDB"):
        raise StoreError(f"GODO_FERRETDB={binary} is not FerretDB {ferret.FERRETDB_VERSION}")
    return None


def _build(ferret) -> str:
    if shutil.which("go") is None:
        raise StoreError(f"FerretDB {ferret.FERRETDB_VERSION} is built from source with Go, "
                         "which is not installed: install Go 1.22 or later (Debian: apt install "
                         "golang-go), or give a MongoDB URI with --mongo or GODO_MONGO_URI")
    script = DATA / "build-ferretdb.sh"
    # Go's own output goes to stderr as it comes: a first build takes minutes.
    result = subprocess.run(["bash", str(script), str(ferret.cached_binary())],
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise StoreError(f"building FerretDB failed (exit {result.returncode}); Go's output is above")
    return result.stdout.strip().splitlines()[-1]


def _check_it_answers(ferret, binary: str) -> None:
    """Start it once on a scratch directory: a start waits until it answers a ping."""
    with tempfile.TemporaryDirectory(prefix="godo-store-setup-") as scratch:
        ferret.EmbeddedFerret(scratch, binary=binary).start().stop()


# -- godo install-service ------------------------------------------------------------------------

def cmd_install_service(args) -> int:
    unit = render_unit(godo_command(), _ferretdb_for_unit())
    if args.print:
        sys.stdout.write(unit)
        return 0
    root = Path(args.root or "/")
    unit_path, config_path = root / UNIT, root / CONFIG
    _write(unit_path, unit, overwrite=True)
    print(f"godo: wrote {unit_path}", file=sys.stderr)
    if config_path.exists():
        print(f"godo: kept {config_path} as it is", file=sys.stderr)
    else:
        _write(config_path, (DATA / "godo.toml").read_text(), overwrite=False)
        print(f"godo: wrote {config_path}", file=sys.stderr)
    if root == Path("/") and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        print("godo: start it with: systemctl enable --now godo", file=sys.stderr)
    elif root == Path("/"):
        print("godo: systemd is not running here; the unit is in place for when it is",
              file=sys.stderr)
    return 0


def godo_command() -> str:
    """How systemd should start this godo: its script, else this Python with -m."""
    script = Path(sys.argv[0])
    if script.name == "godo" and script.is_file():
        return str(script.resolve())
    on_path = shutil.which("godo")
    if on_path and Path(on_path).resolve().parent == Path(sys.executable).resolve().parent:
        return str(Path(on_path).resolve())
    return f"{Path(sys.executable).resolve()} -m godo"


def _ferretdb_for_unit() -> str | None:
    from ..store import ferret
    try:
        return ferret.find_binary()
    except StoreError:
        return None


def render_unit(godo: str, ferretdb: str | None) -> str:
    """The packaged unit with ExecStart naming `godo`, and the FerretDB binary found
    now (HOME's cache is not where systemd's root would look for it otherwise)."""
    lines = []
    for line in (DATA / "godo.service").read_text().splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={godo} record"
        lines.append(line)
        if line.startswith("Environment=GODO_DATA_DIR=") and ferretdb:
            lines.append(f"Environment=GODO_FERRETDB={ferretdb}")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, *, overwrite: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.chmod(0o644)
        if overwrite:
            tmp.replace(path)
        else:
            os.link(tmp, path)  # never over a file that appeared meanwhile
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
