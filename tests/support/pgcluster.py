"""A replicated PostgreSQL 15 on loopback for the fleet tests and benchmarks/fleet.py:
a primary and a streaming hot standby (synchronous replication on), in temporary
directories, torn down after, and FerretDB front-ends in front of them.

    with PgCluster() as cluster:
        cluster.url()            # postgres://godo@127.0.0.1:P1,127.0.0.1:P2/godo?target_session_attrs=read-write
        cluster.password         # the role's password (TCP connections need it)
        with cluster.front_end() as fe:   # FerretDB, --handler=postgresql, on 127.0.0.1
            fe.uri               # mongodb://127.0.0.1:PORT/
        cluster.kill_primary(); cluster.promote()   # failover
        cluster.stop_all(); cluster.start_all()     # the database down

PostgreSQL refuses to run as root: as root the servers run as an unprivileged user
(`postgres`, which Debian's package makes, or $GODO_TEST_PG_USER) through Popen's
`user=`, in a directory that user owns; as another user they run as that user. The
binaries are Debian's (/usr/lib/postgresql/15/bin), or $GODO_TEST_PG_BIN.

Connections: over the Unix socket (in the cluster's 0700 directory) without a
password, which is how the test bed itself and the standby's replication connect;
over TCP with the role's password (scram-sha-256), which is how FerretDB connects,
so the tests exercise godo's handling of a password. The servers run in a session of
their own; teardown stops them (fast, then killed) even after a failed test.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("GODO_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE = "godo"
DATABASE = "godo"
_START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable() -> str | None:
    """Why a cluster cannot run here, or None when it can."""
    for name in ("initdb", "postgres", "pg_basebackup", "pg_ctl", "psql"):
        if not os.access(PG_BIN / name, os.X_OK):
            return f"PostgreSQL 15 is not installed ({PG_BIN / name} missing): run scripts/setup.sh"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_server_user())
        except KeyError:
            return f"no user {_server_user()} to run PostgreSQL as (root may not)"
    return None


def _server_user() -> str:
    return os.environ.get("GODO_TEST_PG_USER", "postgres")


class _Identity:
    """Who the servers run as: kwargs for Popen, and the owner of their files."""

    def __init__(self):
        if os.geteuid() == 0:
            entry = pwd.getpwnam(_server_user())
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            self.popen = {"user": self.uid, "group": self.gid, "extra_groups": []}
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
            self.popen = {}

    def run(self, args: list, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", _START_TIMEOUT)
        done = subprocess.run([str(a) for a in args], **self.popen, **kw)
        if done.returncode:
            raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()}")
        return done


class PgServer:
    """One postmaster: its data directory, port and process."""

    def __init__(self, name: str, root: Path, ident: _Identity):
        self.name = name
        self.data = root / name
        self.socket_dir = root
        self.port = free_port()
        self.log = root / f"{name}.log"
        self.ident = ident
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.socket_dir, start_new_session=True, **self.ident.popen)
        finally:
            out.close()
        self.wait_ready()

    def wait_ready(self, timeout: float = _START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL {self.name} exited ({self.proc.returncode}): "
                                   f"{self.last_log()}")
            done = subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", str(self.socket_dir),
                                   "-p", str(self.port)], capture_output=True)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL {self.name} not ready in {timeout:g} s: "
                                   f"{self.last_log()}")
            time.sleep(0.1)

    def last_log(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:])

    def sql(self, query: str, database: str = DATABASE) -> str:
        """`query`'s result (unaligned, tuples only), through the Unix socket."""
        done = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", ROLE, "-d", database,
             "-c", query], capture_output=True, text=True, timeout=_START_TIMEOUT)
        if done.returncode:
            raise RuntimeError(f"psql on {self.name}: {done.stderr.strip()}")
        return done.stdout.strip()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crashed machine would stop it (its backends
        notice and exit)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reap_session()

    def stop(self, timeout: float = 30.0) -> None:
        """A fast shutdown (SIGINT), killed if it takes longer than `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reap_session()

    def _reap_session(self) -> None:
        """Backends left by a killed postmaster: gone before its port is reused."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class FrontEnd:
    """A FerretDB with the PostgreSQL handler on 127.0.0.1, the cluster's multi-host
    URL without the password, which it reads from a 0600 PGPASSFILE."""

    def __init__(self, cluster: PgCluster, binary: str | None = None):
        from godo.store.ferret_binary import find_binary
        self.binary = binary or find_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="fe-", dir=cluster.root_private))
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.log = self.dir / "ferretdb.log"
        passfile = self.dir / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:{ROLE}:{cluster.password}\n")
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "--handler=postgresql", f"--postgresql-url={cluster.url()}",
                 f"--listen-addr=127.0.0.1:{self.port}", f"--state-dir={self.dir}",
                 "--debug-addr=-", "--telemetry=disable", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PGPASSFILE": str(passfile)}, start_new_session=True)
        finally:
            out.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"FerretDB front-end exited ({self.proc.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("FerretDB front-end did not listen in time") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FrontEnd:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class PgCluster:
    """A primary and a synchronous streaming hot standby, started on enter (see the
    module's docstring)."""

    def __init__(self, *, fsync: bool = False, synchronous: bool = True):
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.ident = _Identity()
        self.fsync = fsync
        self.synchronous = synchronous
        # The servers' tree, owned by their user; FerretDB's state beside it, ours.
        self.root = Path(tempfile.mkdtemp(prefix="godo-pg-"))
        os.chown(self.root, self.ident.uid, self.ident.gid)
        os.chmod(self.root, 0o700)
        self.root_private = Path(tempfile.mkdtemp(prefix="godo-fe-"))
        self.password = secrets.token_urlsafe(18)
        self.primary = PgServer("primary", self.root, self.ident)
        self.standby = PgServer("standby", self.root, self.ident)
        self.front_ends: list[FrontEnd] = []

    # -- building ----------------------------------------------------------------

    def start(self) -> PgCluster:
        try:
            self._init_primary()
            self.primary.start()
            self.primary.sql(f"ALTER ROLE {ROLE} PASSWORD '{self.password}'", database="postgres")
            self.primary.sql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}", database="postgres")
            self._init_standby()
            self.standby.start()
            if self.synchronous:
                self.primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
                self.primary.sql("SELECT pg_reload_conf()")
            self.wait_streaming()
        except BaseException:
            self.close()
            raise
        return self

    def _init_primary(self) -> None:
        pwfile = self.root / "initpw"
        pwfile.write_text("unused\n")  # replaced by ALTER ROLE; initdb wants one
        os.chown(pwfile, self.ident.uid, self.ident.gid)
        self.ident.run([PG_BIN / "initdb", "-D", self.primary.data, "--encoding=UTF8",
                        "--locale=C.UTF-8", f"--username={ROLE}", f"--pwfile={pwfile}",
                        "--auth-local=trust", "--auth-host=scram-sha-256"], cwd=self.root)
        pwfile.unlink()
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "wal_level = replica", "max_wal_senders = 5", "hot_standby = on",
            "wal_keep_size = '256MB'",
            f"fsync = {'on' if self.fsync else 'off'}",
            "shared_buffers = '64MB'", "max_connections = 200",
            "log_min_messages = warning",
        ]
        with open(self.primary.data / "postgresql.conf", "a") as f:
            f.write("\n# the fleet test bed\n" + "\n".join(conf) + "\n")
        # initdb's pg_hba has `local replication all trust`; replication over TCP
        # wants the password like any other connection.
        with open(self.primary.data / "pg_hba.conf", "a") as f:
            f.write("host replication all 127.0.0.1/32 scram-sha-256\n")

    def _init_standby(self) -> None:
        self.ident.run([PG_BIN / "pg_basebackup", "-D", self.standby.data, "-R", "-X", "stream",
                        "-h", self.root, "-p", self.primary.port, "-U", ROLE,
                        "--checkpoint=fast"], cwd=self.root, timeout=300)
        with open(self.standby.data / "postgresql.conf", "a") as f:
            f.write("cluster_name = 'standby'\n")

    def wait_streaming(self, timeout: float = _START_TIMEOUT) -> None:
        """Until the standby streams from the primary (synchronously, if so set)."""
        want = "sync" if self.synchronous else "async"
        deadline = time.monotonic() + timeout
        while True:
            state = self.primary.sql("SELECT state, sync_state FROM pg_stat_replication")
            if state == f"streaming|{want}":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby does not stream: {state!r}; "
                                   f"{self.standby.last_log()}")
            time.sleep(0.1)

    # -- what the tests use ---------------------------------------------------------

    def url(self, *, password: bool = False, database: str = DATABASE) -> str:
        """The multi-host URL a front-end follows a promotion with; the password only
        when asked (it should reach FerretDB through a PGPASSFILE)."""
        auth = f"{ROLE}:{self.password}@" if password else f"{ROLE}@"
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in (self.primary, self.standby))
        return f"postgres://{auth}{hosts}/{database}?target_session_attrs=read-write"

    def front_end(self, binary: str | None = None) -> FrontEnd:
        fe = FrontEnd(self, binary)
        self.front_ends.append(fe)
        return fe

    def writable(self) -> PgServer:
        """The server that takes writes now."""
        for server in (self.primary, self.standby):
            if server.running and server.sql("SELECT pg_is_in_recovery()") == "f":
                return server
        raise RuntimeError("no server takes writes")

    def kill_primary(self) -> None:
        self.primary.kill()

    def promote(self) -> None:
        """`pg_ctl promote` on the standby: it takes writes when this returns."""
        self.ident.run([PG_BIN / "pg_ctl", "promote", "-w", "-D", self.standby.data],
                       cwd=self.root)
        # With no standby of its own a new primary must not wait for one.
        self.standby.sql("ALTER SYSTEM SET synchronous_standby_names = ''")
        self.standby.sql("SELECT pg_reload_conf()")

    def stop_all(self) -> None:
        """Both servers down (the database unreachable); `start_all` brings them back."""
        self.standby.stop()
        self.primary.stop()

    def start_all(self) -> None:
        self.primary.start()
        self.standby.start()

    # -- teardown --------------------------------------------------------------------

    def close(self) -> None:
        """Everything stopped and removed, whatever state the test left."""
        for fe in self.front_ends:
            fe.stop()
        for server in (self.standby, self.primary):
            try:
                server.stop(timeout=15)
            except Exception:  # noqa: BLE001 - keep tearing down
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.root_private, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
