"""A throwaway PostgreSQL 15 (Debian's) on loopback, and FerretDB front-ends on its
PostgreSQL handler: what the store tests of godo's PostgreSQL patches run against,
small until the fleet's test bed (primary, standby, front-ends) takes its place.

PostgreSQL refuses to run as root. As root the cluster's files belong to the
`postgres` user Debian's package makes, and its programs run as that user through
`runuser`; as anyone else they run as that user. The cluster is made as the issue
says a fleet's is (`initdb --encoding=UTF8 --locale=C.UTF-8`: strings compare by
code point, as in MongoDB), trusts loopback (a test bed: no password to keep),
and does not fsync (nothing of it outlives the test)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pymongo

from support.servers import _free_port

PG_BIN = Path(os.environ.get("GODO_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "godo"   # the cluster's superuser, as FerretDB connects


def missing() -> str | None:
    """Why no cluster can be made here; None when one can."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL in {PG_BIN} (Debian's postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no postgres user to run PostgreSQL as"
    return None


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Postgres:
    """One PostgreSQL cluster in a temporary directory, on a free loopback port."""

    def __init__(self, **settings: str):
        self.settings = settings
        self.dir = Path(tempfile.mkdtemp(prefix="godo-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Postgres:
        subprocess.run(_as_owner([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER,
                                  "--encoding=UTF8", "--locale=C.UTF-8", "--auth=trust"]),
                       check=True, capture_output=True)
        options = (f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" +
                   "".join(f" -c {name}={value}" for name, value in self.settings.items()))
        subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                                  str(self.dir / "log"), "-o", options, "-w", "start"]),
                       check=True, capture_output=True)
        self.running = True
        return self

    def psql(self, sql: str) -> str:
        """The rows of one statement, as psql prints them unaligned."""
        done = subprocess.run([str(PG_BIN / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
                               "-d", "postgres", "-c", sql],
                              check=True, capture_output=True, text=True)
        return done.stdout.strip()

    @property
    def log(self) -> Path:
        """The server's log (its messages, and plans where auto_explain is loaded)."""
        return self.dir / "log"

    def stop(self) -> None:
        if self.running:
            subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                      "-w", "stop"]), capture_output=True)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FrontEnd:
    """A FerretDB on the PostgreSQL handler, on a free loopback port."""

    def __init__(self, binary: str, postgresql_url: str):
        self.dir = Path(tempfile.mkdtemp(prefix="godo-fe-"))
        self.port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.log = self.dir / "ferretdb.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [binary, "--handler=postgresql", f"--postgresql-url={postgresql_url}",
                 f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", "--telemetry=disable",
                 f"--state-dir={self.dir}", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)

    def wait_ready(self, timeout: float = 30.0) -> FrontEnd:
        """Listening: a `ping` answered (which touches no database)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"FerretDB exited: {self.log.read_text()[-2000:]}")
            try:
                with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=200) as client:
                    client.admin.command("ping")
                return self
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
