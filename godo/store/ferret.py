"""The embedded default store: FerretDB v1.24.2 over SQLite, run as a child process.

godo needs no database server to be installed: with no MongoDB URI it starts
FerretDB (a MongoDB wire-protocol server) with its SQLite files under
`DATA_DIR/ferretdb/`. Only one server may own those files, because each FerretDB
caches the SQLite metadata in memory; a second godo command (`godo tree` while
`godo record` runs) connects to the running one through `connect_or_start`
(ferret_connect.py).

FerretDB checks no password, so only godo's user may reach it: it listens on a
Unix socket inside the 0700 directory (and made 0700 itself), on no TCP port
unless one is asked for. Every file it makes is 0600 (it runs with umask 077).

Who owns the files is decided by an flock on `DATA_DIR/ferretdb/lock`, which the
FerretDB child inherits: the lock is held exactly as long as the server lives, even
when the godo process that started it has died. Such a server is reused only
when it is provably godo's own (our uid, its arguments naming this directory,
holding this lock). Who uses it is an flock too: every godo using the server
holds a shared lock on `users`; the one that gets it exclusively on leaving is
the last, and stops the server, so a server left by a SIGKILLed godo lives only
until the next godo that uses it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.parse
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

from ..errors import GodoError, StoreError
from ..paths import check_private_dir, open_private
# Re-exported: `godo store setup` and the tests reach the binary's helpers through here.
from .ferret_binary import (FERRETDB_BUILD, FERRETDB_VERSION, cached_binary,  # noqa: F401
                            find_binary, nice_binary, reports_version, trusted_executable)
from .local import listening_port, unprovable

# SQLite settings for FerretDB's connections (its URL's `_pragma`s; FerretDB adds WAL
# and a busy timeout itself). In WAL mode `synchronous(normal)` syncs the log at
# checkpoints, not at every commit: a crash of FerretDB or godo loses nothing, a
# power cut the last commits, as MongoDB's default write concern (no `j`) does.
# Measured by benchmarks/store_cost.py: see benchmarks/README.md.
SQLITE_PRAGMAS = ("synchronous(normal)",)
# FerretDB's insert batch: the documents of one multi-row INSERT and one SQLite
# transaction (its default 100). godo sends 1,000 a call; one transaction for them
# rewrites each index page touched once, not ten times. And Go's garbage collector
# at 400% (its default 100): a document inserted allocates its BSON, its JSON and
# the statement's arguments, all garbage at once. Together with build-ferretdb.sh's
# memcmp, 126 -> 71 µs of FerretDB's CPU an inserted file document
# (benchmarks/README.md, "where a document's cost goes").
INSERT_BATCH = 1000
GO_GC_PERCENT = "400"
_LOG = "ferretdb.log"
_ENDPOINT = "endpoint.json"
_LOCK = "lock"
_USERS = "users"
_SOCKET = "ferretdb.sock"  # pymongo takes a host ending in .sock as a socket path
_SUN_PATH_MAX = 107        # sockaddr_un's 108 bytes, less the NUL
_LOG_ENTRY = re.compile(r"\d{4}-\d\d-\d\dT")
_LOG_ERROR = re.compile(r"^\S+\t(ERROR|DPANIC|PANIC|FATAL)")
# Servers this process started and left to other users: kept so that Popen does
# not warn that they still run, and reaped when they end.
_DETACHED: list[subprocess.Popen] = []


def ping(uri: str, timeout: float, command: str = "ping") -> None:
    """One `ping` round trip (or `command`'s); raises PyMongoError when nothing
    answers in time."""
    ms = max(1, int(timeout * 1000))
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
                                 socketTimeoutMS=ms, appname="godo")
    try:
        client.admin.command(command)
    finally:
        client.close()


def socket_uri(path: str | os.PathLike) -> str:
    """The MongoDB URI of a server listening on the Unix socket `path`."""
    return f"mongodb://{urllib.parse.quote(str(path), safe='')}/?directConnection=true"


class ServerRunning(StoreError):
    """Another FerretDB already owns this data directory (see `connect_or_start`)."""


class NoStore(StoreError):
    """A command that only reads found no embedded store in the data directory:
    an empty answer, as from an empty store (exit status 0)."""

    exit_code = 0


class EmbeddedFerret:
    """A FerretDB serving `data_dir/ferretdb/` on a Unix socket there.

    `with EmbeddedFerret(data_dir) as ferret:` starts it and stops it on exit (if
    no other godo uses it then); `ferret.uri` is the MongoDB URI, `ferret.pid` the
    server's pid (godo must not audit it: it writes what godo sends). `port`
    listens on 127.0.0.1 too, which any local user can reach (0: the kernel picks
    one; None, the default: no TCP). `create` False: a command that only reads,
    which makes no directory (`NoStore` when there is none). Made by
    `connect_or_start`, it may instead be attached to a server another process
    started (`owned` False). `postgresql`: a fleet's front-end instead, FerretDB's
    PostgreSQL handler on that cluster's URL (godo/store/postgresql.py), in a
    directory of its own beside the embedded one's.
    """

    def __init__(self, data_dir: str | os.PathLike, *, binary: str | None = None,
                 port: int | None = None, start_timeout: float = 30.0, stop_timeout: float = 10.0,
                 log_level: str = "info", nice: int = 10, create: bool = True,
                 sqlite_pragmas: tuple[str, ...] = SQLITE_PRAGMAS, postgresql: str | None = None,
                 insert_batch: int = INSERT_BATCH, gc_percent: str = GO_GC_PERCENT):
        self.root = Path(os.path.abspath(data_dir))
        self.dir = self.root / "ferretdb"
        self.postgresql, self._pg_password = None, None
        if postgresql:
            from .postgresql import front_end_dir, split_password
            self.postgresql, self._pg_password = split_password(postgresql)
            self.dir = front_end_dir(self.root, self.postgresql)
            # The data is the cluster's: a command that reads makes the front-end's
            # directory like one that writes.
            create = True
        self.nice = nice
        self.binary = binary
        self.listen_port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self.create = create
        self.sqlite_pragmas = sqlite_pragmas
        self.insert_batch = insert_batch
        self.gc_percent = gc_percent
        self.port: int | None = None
        self.pid: int | None = None
        self.owned = False
        self._proc: subprocess.Popen | None = None
        self._lock_fd: int | None = None
        self._users_fd: int | None = None

    @property
    def socket_path(self) -> Path:
        return self.dir / _SOCKET

    @property
    def uri(self) -> str:
        if self.pid is None:
            raise RuntimeError("FerretDB is not running")
        return socket_uri(self.socket_path)

    @property
    def log_path(self) -> Path:
        return self.dir / _LOG

    @property
    def running(self) -> bool:
        return self.pid is not None

    def __enter__(self) -> EmbeddedFerret:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"EmbeddedFerret({str(self.dir)!r}, {state}, owned={self.owned})"

    # -- the directory and its users --------------------------------------------------

    def _join(self) -> None:
        """Check the directories and take a share of `users` (waiting, within
        `start_timeout`, for a last user that is stopping the server)."""
        if self._users_fd is not None:
            return
        if not check_private_dir(self.root, "data directory", create=self.create, parents=True) \
                or not check_private_dir(self.dir, "FerretDB directory", create=self.create):
            # No FerretDB to make one with is said first: it is what is missing.
            self.binary = self.binary or find_binary()
            raise NoStore(f"nothing recorded yet in {self.root}: run `godo record -- CMD` first")
        encoded = len(os.fsencode(self.socket_path))
        if encoded > _SUN_PATH_MAX:
            raise StoreError(f"the data directory {self.root} is too long a path for FerretDB's "
                             f"socket ({encoded} bytes, at most {_SUN_PATH_MAX}): "
                             "give a shorter GODO_DATA_DIR")
        fd = self._open(_USERS, "FerretDB's users lock")
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise StoreError(f"the last user of the FerretDB serving {self.dir} did not "
                                     f"stop it within {self.start_timeout:g} s") from None
                time.sleep(0.05)
        self._users_fd = fd

    def _open(self, name: str, what: str) -> int:
        return open_private(self.dir / name, os.O_RDWR | os.O_CREAT, what)

    def _leave(self) -> None:
        if self._users_fd is not None:
            os.close(self._users_fd)
            self._users_fd = None

    def _last_user(self) -> bool:
        try:
            fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    # -- start ------------------------------------------------------------------------

    def start(self) -> EmbeddedFerret:
        """Start a server; `ServerRunning` if one already owns the directory."""
        if self.running:
            raise RuntimeError("FerretDB is already running")
        self._join()
        try:
            return self._start()
        except BaseException:
            self._leave()
            raise

    def _start(self) -> EmbeddedFerret:
        binary = self.binary or find_binary()
        lock_fd = self._open(_LOCK, "FerretDB's lock")
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise ServerRunning(f"a FerretDB already serves {self.dir}") from None
        self._lock_fd = lock_fd
        try:
            # Left by a server that died without cleaning up; the lock says it is gone.
            for name in (_ENDPOINT, _SOCKET):
                (self.dir / name).unlink(missing_ok=True)
            self._private_files()
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

    def _private_files(self) -> None:
        """Files an older godo left readable by others (FerretDB's, under umask
        022) made 0600: the directory is 0700, but a file's mode should say so too."""
        for entry in os.scandir(self.dir):
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.geteuid():
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    try:
                        os.fchmod(fd, 0o600)
                    finally:
                        os.close(fd)
            except OSError:
                continue

    def _spawn(self, binary: str, lock_fd: int) -> None:
        log = self.log_path
        if log.exists() and log.stat().st_size:
            log.replace(log.with_name(_LOG + ".1"))
        tcp = "" if self.listen_port is None else f"127.0.0.1:{self.listen_port}"
        args = [binary, *self._handler_args(),
                f"--state-dir={self.dir}", f"--listen-unix={self.socket_path}",
                # Empty: no TCP listener. With port 0 the kernel picks a free port as
                # FerretDB binds, so no other process can take it in between.
                f"--listen-addr={tcp}",
                # `-` disables the debug HTTP listener, whose default 127.0.0.1:8088
                # would collide between two servers.
                "--debug-addr=-",
                "--telemetry=disable", f"--log-level={self.log_level}",
                f"--test-batch-size={self.insert_batch}"]
        nice = nice_binary() if self.nice else None
        if nice:
            # Under a storm godo and the workload need the CPUs first; writes that
            # wait meanwhile go to the spill journal and in once the storm is over.
            args = [nice, "-n", str(self.nice), *args]
        out = self._open(_LOG, "FerretDB's log")
        try:
            os.lseek(out, 0, os.SEEK_END)
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                # The child holds the lock for as long as it lives.
                pass_fds=(lock_fd,),
                # Its SQLite files, state and socket: ours alone.
                umask=0o077, cwd=self.dir,
                # Out of the terminal's process group: Ctrl-C stops godo, which
                # flushes what it holds into FerretDB before stopping it.
                start_new_session=True, env=self._environment())
        except OSError as exc:
            raise StoreError(f"cannot start FerretDB {binary}: {exc.strerror}") from None
        finally:
            os.close(out)
        self.pid = self._proc.pid

    def _handler_args(self) -> list[str]:
        if self.postgresql:
            return ["--handler=postgresql", f"--postgresql-url={self.postgresql}"]
        sqlite_url = "file:" + urllib.parse.quote(f"{self.dir}/")
        if self.sqlite_pragmas:
            sqlite_url += "?" + urllib.parse.urlencode([("_pragma", p) for p in self.sqlite_pragmas])
        return ["--handler=sqlite", f"--sqlite-url={sqlite_url}"]

    def _environment(self) -> dict[str, str]:
        """Go's collector pace, and the PostgreSQL password through a passfile, never
        FerretDB's arguments (which every user can read in /proc)."""
        env = {**os.environ, "GOGC": self.gc_percent}
        if self._pg_password is not None:
            from .postgresql import write_passfile
            env["PGPASSFILE"] = str(write_passfile(self.dir, self._pg_password))
        return env

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            status = self._proc.poll()
            if status is not None:
                raise StoreError(f"FerretDB exited at start (status {status}): {self.last_log_line()}")
            if self.listen_port is not None and self.port is None:
                self.port = listening_port(self.pid)
            if self.socket_path.exists() and (self.listen_port is None or self.port is not None):
                try:
                    self.ping(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
                    return
                except PyMongoError:
                    pass
            if time.monotonic() > deadline:
                raise StoreError(f"FerretDB did not answer within {self.start_timeout:g} s: "
                                 f"{self.last_log_line()}")
            time.sleep(0.02)

    def ping(self, timeout: float) -> None:
        """Whether the server answers. A front-end on PostgreSQL is asked `hello`,
        which it answers itself: `ping` asks the cluster too, and whether that
        answers is the writer's to say (naming the cluster, not a socket)."""
        ping(self.uri, timeout, "hello" if self.postgresql else "ping")

    def _write_endpoint(self) -> None:
        path = self.dir / _ENDPOINT
        tmp = path.with_name(f".{_ENDPOINT}.{os.getpid()}")
        text = json.dumps({"pid": self.pid, "socket": str(self.socket_path), "port": self.port,
                           "owner": os.getpid(), "version": FERRETDB_VERSION}).encode()
        try:
            fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "FerretDB's endpoint")
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}") from None
        except GodoError:
            tmp.unlink(missing_ok=True)
            raise

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

    def _our_args(self) -> tuple[str, ...]:
        return (f"--state-dir={self.dir}", f"--listen-unix={self.socket_path}")

    def why_not_ours(self, pid: int) -> str | None:
        """Why `pid` is not provably the server godo started here (None: it is)."""
        try:
            lock = os.lstat(self.dir / _LOCK)
            sock = os.lstat(self.socket_path)
        except OSError as exc:
            return f"{exc.filename}: {exc.strerror}"
        if not stat.S_ISSOCK(sock.st_mode) or sock.st_uid != os.geteuid() or sock.st_mode & 0o077:
            return f"{self.socket_path} is not a socket of uid {os.geteuid()} for it alone"
        return unprovable(pid, lock, self._our_args())

    def gone(self) -> str | None:
        """Why the server this serves with is no longer running (its exit status,
        or its pid gone), None while it runs."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return None
            return f"exit status {self._proc.returncode}"
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return f"pid {self.pid} is gone"
        return None

    def _attach(self, pid: int, port: int | None) -> None:
        self.pid, self.port, self.owned = pid, port, False

    def stop(self) -> None:
        """Leave the server: stop it if no other godo uses it, else leave it to
        the last one. Forget it either way."""
        try:
            if self.running:
                if self._users_fd is None or self._last_user():
                    self._stop_server()
                elif self._proc is not None:
                    _DETACHED.append(self._proc)
                    self._proc = None
        finally:
            self._release()
            self._leave()
            self.pid = self.port = None
            self.owned = False
            _DETACHED[:] = [proc for proc in _DETACHED if proc.poll() is None]

    def _stop_server(self) -> None:
        if self._proc is not None:
            (self.dir / _ENDPOINT).unlink(missing_ok=True)
            self._terminate()
            (self.dir / _SOCKET).unlink(missing_ok=True)
            return
        # Another godo started it: stopped through its pid once proven ours, and
        # gone when its lock is free.
        if self.why_not_ours(self.pid) is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        lock_fd = self._open(_LOCK, "FerretDB's lock")
        if not _lock_within(lock_fd, self.stop_timeout):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _lock_within(lock_fd, self.stop_timeout)
        self._lock_fd = lock_fd
        for name in (_ENDPOINT, _SOCKET):
            (self.dir / name).unlink(missing_ok=True)

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


def _lock_within(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
