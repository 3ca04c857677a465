"""The embedded default store: FerretDB v1.24.2 over SQLite, run as a child process.

godo needs no database server to be installed: with no MongoDB URI it starts
FerretDB (a MongoDB wire-protocol server) with its SQLite files under
`DATA_DIR/ferretdb/`. Only one server may own those files, because each FerretDB
caches the SQLite metadata in memory; a second godo command (`godo tree` while
`godo record` runs) connects to the running one through `connect_or_start`.

Who owns the files is decided by an flock on `DATA_DIR/ferretdb/lock`, which the
FerretDB child inherits: the lock is held exactly as long as the server lives, even
when the godo process that started it has died, so a leftover server is found and
reused, never doubled. `endpoint.json` beside it says where that server listens.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

from ..errors import StoreError
from .local import listening_port

FERRETDB_VERSION = "v1.24.2"
# godo's build of it (godo/data/build-ferretdb.sh): its bugs fixed, its queries pushed down.
FERRETDB_BUILD = f"{FERRETDB_VERSION}-godo3"
# SQLite settings for FerretDB's connections (its URL's `_pragma`s; FerretDB adds WAL
# and a busy timeout itself). In WAL mode `synchronous(normal)` syncs the log at
# checkpoints, not at every commit: a crash of FerretDB or godo loses nothing, a
# power cut the last commits, as MongoDB's default write concern (no `j`) does.
# Measured by benchmarks/store_cost.py: see benchmarks/README.md.
SQLITE_PRAGMAS = ("synchronous(normal)",)
_LOG = "ferretdb.log"
_ENDPOINT = "endpoint.json"
_LOCK = "lock"
_LOG_ENTRY = re.compile(r"\d{4}-\d\d-\d\dT")
_LOG_ERROR = re.compile(r"^\S+\t(ERROR|DPANIC|PANIC|FATAL)")


def cached_binary() -> Path:
    """Where `godo store setup` (godo/data/build-ferretdb.sh) puts the binary."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "godo" / f"ferretdb-{FERRETDB_BUILD}" / "ferretdb"


def find_binary() -> str:
    """$GODO_FERRETDB, else the build script's cache, else `ferretdb` on PATH."""
    configured = os.environ.get("GODO_FERRETDB")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise StoreError(f"GODO_FERRETDB={configured} is not an executable file")
    cached = cached_binary()
    if os.access(cached, os.X_OK):
        return str(cached)
    on_path = shutil.which("ferretdb")
    if on_path:
        return on_path
    raise StoreError(f"FerretDB {FERRETDB_VERSION} is not installed: run `godo store setup` "
                     "(it builds it with Go), or give a MongoDB URI with --mongo or GODO_MONGO_URI")


def reports_version(binary: str) -> bool:
    """Whether `binary` is FerretDB of the version godo runs."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"version: {FERRETDB_VERSION}" in out.splitlines()


def ping(uri: str, timeout: float) -> None:
    """One `ping` round trip; raises PyMongoError when nothing answers in time."""
    ms = max(1, int(timeout * 1000))
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
                                 socketTimeoutMS=ms, appname="godo")
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


class ServerRunning(StoreError):
    """Another FerretDB already owns this data directory (see `connect_or_start`)."""


class EmbeddedFerret:
    """A FerretDB serving `data_dir/ferretdb/` on a free loopback port.

    `with EmbeddedFerret(data_dir) as ferret:` starts it and stops it on exit;
    `ferret.uri` is the MongoDB URI, `ferret.pid` the server's pid (godo must not
    audit it: it writes what godo sends). `port` 0 lets the kernel choose one. Made by `connect_or_start`, it may instead
    be attached to a server another process started (`owned` False), which it then
    leaves running.
    """

    def __init__(self, data_dir: str | os.PathLike, *, binary: str | None = None,
                 port: int = 0, start_timeout: float = 30.0, stop_timeout: float = 10.0,
                 log_level: str = "info", nice: int = 10,
                 sqlite_pragmas: tuple[str, ...] = SQLITE_PRAGMAS):
        self.dir = Path(data_dir) / "ferretdb"
        self.nice = nice
        self.binary = binary
        self.listen_port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self.sqlite_pragmas = sqlite_pragmas
        self.port: int | None = None
        self.pid: int | None = None
        self.owned = False
        self._proc: subprocess.Popen | None = None
        self._lock_fd: int | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise RuntimeError("FerretDB is not running")
        return _uri(self.port)

    @property
    def log_path(self) -> Path:
        return self.dir / _LOG

    @property
    def running(self) -> bool:
        return self.port is not None

    def __enter__(self) -> EmbeddedFerret:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid} port {self.port}" if self.running else "stopped"
        return f"EmbeddedFerret({str(self.dir)!r}, {state}, owned={self.owned})"

    # -- start ------------------------------------------------------------------------

    def start(self) -> EmbeddedFerret:
        """Start a server; `ServerRunning` if one already owns the directory."""
        if self.running:
            raise RuntimeError("FerretDB is already running")
        binary = self.binary or find_binary()
        self._make_dir()
        lock_fd = os.open(self.dir / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise ServerRunning(f"a FerretDB already serves {self.dir}") from None
        self._lock_fd = lock_fd
        try:
            # Left by a server that died without cleaning up; the lock says it is gone.
            (self.dir / _ENDPOINT).unlink(missing_ok=True)
            self._spawn(binary, lock_fd)
            self._wait_ready()
            self._write_endpoint()
        except BaseException:
            self._terminate()
            self._release()
            self.pid = self.port = None
            raise
        self.owned = True
        return self

    def _make_dir(self) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.dir.stat().st_mode & 0o077:
                self.dir.chmod(0o700)
        except OSError as exc:
            raise StoreError(f"cannot use {self.dir} for FerretDB: {exc.strerror}") from None

    def _spawn(self, binary: str, lock_fd: int) -> None:
        log = self.log_path
        if log.exists() and log.stat().st_size:
            log.replace(log.with_name(_LOG + ".1"))
        sqlite_url = "file:" + urllib.parse.quote(f"{self.dir.resolve()}/")
        if self.sqlite_pragmas:
            sqlite_url += "?" + urllib.parse.urlencode([("_pragma", p) for p in self.sqlite_pragmas])
        args = [binary, "--handler=sqlite", f"--sqlite-url={sqlite_url}",
                f"--state-dir={self.dir.resolve()}",
                # With port 0 the kernel picks a free port as FerretDB binds, so no
                # other process can take it in between (see _listening_port).
                f"--listen-addr=127.0.0.1:{self.listen_port}",
                # `-` disables the debug HTTP listener, whose default 127.0.0.1:8088
                # would collide between two servers.
                "--debug-addr=-",
                "--telemetry=disable", f"--log-level={self.log_level}"]
        nice = shutil.which("nice")
        if nice and self.nice:
            # Under a storm godo and the workload need the CPUs first; writes that
            # wait meanwhile go to the spill journal and in once the storm is over.
            args = [nice, "-n", str(self.nice), *args]
        with open(log, "ab") as out:
            try:
                self._proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    # The child holds the lock for as long as it lives.
                    pass_fds=(lock_fd,),
                    # Out of the terminal's process group: Ctrl-C stops godo, which
                    # flushes what it holds into FerretDB before stopping it.
                    start_new_session=True)
            except OSError as exc:
                raise StoreError(f"cannot start FerretDB {binary}: {exc.strerror}") from None
        self.pid = self._proc.pid

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            status = self._proc.poll()
            if status is not None:
                raise StoreError(f"FerretDB exited at start (status {status}): {self.last_log_line()}")
            if self.port is None:
                self.port = listening_port(self.pid)
            if self.port is not None:
                try:
                    ping(self.uri, timeout=max(0.1, min(2.0, deadline - time.monotonic())))
                    return
                except PyMongoError:
                    pass
            if time.monotonic() > deadline:
                raise StoreError(f"FerretDB did not answer within {self.start_timeout:g} s: "
                                 f"{self.last_log_line()}")
            time.sleep(0.02)

    def _write_endpoint(self) -> None:
        path = self.dir / _ENDPOINT
        tmp = path.with_name(f".{_ENDPOINT}.{os.getpid()}")
        tmp.write_text(json.dumps({"pid": self.pid, "port": self.port, "owner": os.getpid(),
                                   "version": FERRETDB_VERSION}))
        tmp.replace(path)

    def last_log_line(self) -> str:
        """The log's last error, else its last entry, on one line. Errors first:
        FerretDB's goroutines log concurrently, so the fatal line may not be last.
        Entries only: some are followed by a multi-line dump of a wire message."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        entries = [line for line in lines if _LOG_ENTRY.match(line)]
        errors = [line for line in entries if _LOG_ERROR.search(line)]
        errors += [line for line in lines if line.startswith(("panic:", "fatal error:"))]
        chosen = errors or entries or lines or ["(empty log)"]
        return " ".join(chosen[-1].split())

    # -- attach and stop ------------------------------------------------------------

    def _attach(self, pid: int, port: int) -> None:
        self.pid, self.port, self.owned = pid, port, False

    def stop(self) -> None:
        """Stop the server if this object started it; forget it either way."""
        if self.owned:
            (self.dir / _ENDPOINT).unlink(missing_ok=True)
            self._terminate()
            self._release()
        self.port = None
        self.owned = False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def read_endpoint(data_dir: str | os.PathLike) -> dict | None:
    try:
        endpoint = json.loads((Path(data_dir) / "ferretdb" / _ENDPOINT).read_text())
        return {"pid": int(endpoint["pid"]), "port": int(endpoint["port"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def connect_or_start(data_dir: str | os.PathLike, **options) -> EmbeddedFerret:
    """The FerretDB serving `data_dir`: the one already running, else a new one.

    Use the result as a context manager: on exit it stops a server it started and
    leaves alone one it found. A server that holds the directory but does not
    answer within `start_timeout` (it may still be starting) is a StoreError.
    """
    ferret = EmbeddedFerret(data_dir, **options)
    deadline = time.monotonic() + ferret.start_timeout
    while True:
        try:
            return ferret.start()
        except ServerRunning:
            pass
        endpoint = read_endpoint(data_dir)
        if endpoint is not None:
            try:
                ping(_uri(endpoint["port"]), timeout=1.0)
                ferret._attach(endpoint["pid"], endpoint["port"])
                return ferret
            except PyMongoError:
                pass
        if time.monotonic() > deadline:
            where = f"pid {endpoint['pid']}, port {endpoint['port']}" if endpoint else "no endpoint"
            raise StoreError(f"the FerretDB serving {ferret.dir} ({where}) does not answer")
        time.sleep(0.1)
