"""What the command-line tests of every tier share: godo as a subprocess, its
errors checked to be one line, its JSON output, config files, a pseudo-terminal,
and godo run as nobody."""

from __future__ import annotations

import importlib
import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson

from godo.cli import main

# _as_nobody forks this process and drops to nobody, who may be unable to read the
# checkout or even the Python installation (a pyenv under /root is 0700): what
# main() imports lazily is loaded here, while still root, as _AS_NOBODY does for a
# subprocess, so that no test module has to have imported it first.
# (The standard library's lazy imports too: argparse's gettext wants locale, the
# config wants tomllib, a database pymongo, a terminal rich.)
PRELOADED = ("locale", "tomllib", "godo.cli.export", "godo.cli.hosts", "godo.cli.query",
             "godo.cli.record", "godo.cli.status", "godo.cli.views", "godo.run.live",
             "godo.run.replay", "godo.settings_table", "godo.store.ferret_connect",
             "godo.store.opening", "godo.store.local", "godo.store.postgresql",
             "godo.store.writer", "rich._emoji_codes", "rich.console", "rich.table")
for _module in PRELOADED:
    importlib.import_module(_module)

GODO = [sys.executable, "-m", "godo"]
NOBODY = 65534


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("godo"), err
    return lines[0]


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(GODO + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def _json_lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines()]


def _config_file(directory: Path, text: str, mode: int = 0o644) -> Path:
    path = directory / "godo.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def _on_a_terminal(argv: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run argv with its stderr on a pseudo-terminal; its return code and what it drew."""
    rc, drawn = on_a_pty(argv, "stderr", {**os.environ, "COLUMNS": "160"}, timeout)
    return rc, drawn.decode(errors="replace")


def on_a_pty(argv: list[str], stream: str, env: dict, timeout: float = 120.0) -> tuple[int, bytes]:
    """Run argv with `stream` (stdout or stderr) on a pseudo-terminal, the other
    to /dev/null; its return code and the bytes it drew there."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: slave}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, **streams)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
    return rc, b"".join(chunks)


# -- godo as nobody ---------------------------------------------------------------------------

def _as_nobody(argv: list[str]) -> tuple[int, str]:
    """main(argv) in a forked child that dropped root; its code and stderr."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read_end)
            os.environ.pop("GODO_CONFIG", None)
            os.environ["GODO_DATA_DIR"] = "/nonexistent/godo"
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            sys.stderr = io.TextIOWrapper(os.fdopen(write_end, "wb"), write_through=True)
            sys.stdout = open(os.devnull, "w")
            code = main(argv)
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        err = f.read()
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


# A real `python -m godo` run as nobody, with godo's modules loaded while it is
# still root: the checkout may sit where nobody cannot read (a `mktemp -d` is 0700).
_AS_NOBODY = (
    "import importlib, os, sys\nimport godo.cli\n"
    f"for name in {PRELOADED!r}: importlib.import_module(name)\n"
    f"os.setgroups([]); os.setresgid({NOBODY}, {NOBODY}, {NOBODY}); "
    f"os.setresuid({NOBODY}, {NOBODY}, {NOBODY})\n"
    "sys.exit(godo.cli.main(sys.argv[1:]))\n")


def _nobody_subprocess(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GODO_CONFIG"}
    env.update(HOME="/nonexistent", GODO_DATA_DIR="/nonexistent/godo")
    return subprocess.run([sys.executable, "-c", _AS_NOBODY] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=60, cwd="/", env=env)


def db_uri(ferret_uri: str, db: str) -> str:
    """The URI of database `db` on the server of `ferret_uri` (its options kept)."""
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")
