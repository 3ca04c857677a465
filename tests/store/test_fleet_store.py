"""Many hosts, one store: godo on each "host" (a data directory of its own, so a
FerretDB front-end of its own) writes into one replicated PostgreSQL through
`--postgresql URL` (tests/support/pgcluster.py: a primary and a synchronous hot
standby on loopback). Each test counts every host's documents: exactly what its
log makes, each once, after writers at once, a failover (primary killed, standby
promoted) and the database down for 60 s; and godo exits 0 within its bound."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymongo
import pytest
from pymongo.errors import PyMongoError

from support.faults import _env
from support.genlog import FIRST_CHILD, write_log

GODO = [sys.executable, "-m", "godo"]
PROCESSES, FILES = 300, 4        # per half of a host's log: 1,500 documents
EXIT_BOUND = 120.0               # seconds from the end of a host's input to godo's exit
OUTAGE = 60.0                    # seconds the database is down

pytestmark = pytest.mark.store


class Host:
    """One host's `godo replay --host NAME` of a generated log, fed through a FIFO
    in two halves: the test decides what happens to the database in between."""

    def __init__(self, name: str, index: int, tmp: Path, url: str):
        self.name = name
        self.dir = tmp / name
        self.dir.mkdir()
        first = index * 10 * PROCESSES
        self.halves = [self.dir / "a.log", self.dir / "b.log"]
        a = write_log(self.halves[0], PROCESSES, FILES, first=first)
        b = write_log(self.halves[1], PROCESSES, FILES, first=first + PROCESSES)
        self.expected = {"files": a["files"] + b["files"], "processes": 2 * PROCESSES}
        self.fifo = self.dir / "fifo"
        os.mkfifo(self.fifo)
        env = _env(self.dir, GODO_POSTGRESQL_URL=url)
        self.proc = subprocess.Popen(GODO + ["replay", "--host", name, str(self.fifo)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._second, self._close = threading.Event(), threading.Event()
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()
        self.ended: float | None = None

    def _feed(self) -> None:
        try:
            with open(self.fifo, "wb") as out:
                out.write(self.halves[0].read_bytes())
                out.flush()
                self._second.wait()
                out.write(self.halves[1].read_bytes())
                out.flush()
                self._close.wait()
        except BrokenPipeError:
            pass  # godo exited early: its status and stderr say why

    def feed_second_half(self) -> None:
        """The rest of the log, the input left open."""
        self._second.set()

    def finish(self) -> None:
        """Feed the second half and end the input."""
        self._second.set()
        self._close.set()
        self._feeder.join(60)
        assert not self._feeder.is_alive(), f"{self.name}: godo stopped reading its log"
        self.ended = time.monotonic()

    def wait(self) -> tuple[int, str, float]:
        """godo's exit status, its stderr, and the seconds from the input's end."""
        try:
            _out, err = self.proc.communicate(timeout=EXIT_BOUND * 2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return self.proc.returncode, err, time.monotonic() - self.ended

    def kill(self) -> None:
        """godo stopped, and with it its front-end: SIGTERM first (godo stops the
        server it started), and a server a killed godo left, stopped by its pid."""
        self._second.set()
        self._close.set()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.communicate()
        for endpoint in (self.dir / "data").glob("ferretdb-pg-*/endpoint.json"):
            pid = json.loads(endpoint.read_text())["pid"]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def short_tmp():
    """A directory short enough for FerretDB's socket path (pytest's are not)."""
    path = Path(tempfile.mkdtemp(prefix="fleet-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hosts(pg_cluster, short_tmp):
    """hosts(n): n Host replays into the cluster, each through its own front-end;
    killed on the way out if a test left them running."""
    tmp_path = short_tmp
    made: list[Host] = []
    url = pg_cluster.url(password=True)

    def start(n: int) -> list[Host]:
        for i in range(n):
            made.append(Host(f"h{i + 1}", i, tmp_path, url))
        return made[-n:]

    yield start
    for host in made:
        host.kill()


@pytest.fixture
def db(pg_cluster):
    """godo's database read through a front-end of the test's own."""
    fe = pg_cluster.front_end()
    client = pymongo.MongoClient(fe.uri, serverSelectionTimeoutMS=20_000)
    yield client.godo
    client.close()


def _counts(db, host: str) -> dict:
    return {"files": db.files.count_documents({"host": host}),
            "processes": db.processes.count_documents({"host": host, "pid": {"$gte": FIRST_CHILD}})}


def _wait_for_documents(db, host: str, timeout: float = 120.0) -> None:
    """Until most of the first half of `host`'s log is in: godo writes through its
    front-end."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # Most of it: the last processes of a half wait in the tracker for
            # what may follow them.
            if _counts(db, host)["files"] >= PROCESSES * FILES // 2:
                return
        except PyMongoError:
            pass
        assert time.monotonic() < deadline, f"{host}: the first half never reached the store"
        time.sleep(0.5)


def _counts_answered(db, host: str, timeout: float = 30.0) -> dict:
    """`_counts`, asked again while the test's own front-end fails a query on a
    connection the failover cut (its pool's to the killed primary, which pgx finds
    dead only on use: SQLSTATE 57P01)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _counts(db, host)
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _assert_all_once(db, hosts: list[Host]) -> None:
    for host in hosts:
        code, err, after = host.wait()
        assert code == 0, f"{host.name}: {err}"
        assert "Traceback" not in err
        assert after < EXIT_BOUND, f"{host.name} exited {after:.0f} s after its input ended"
        assert _counts_answered(db, host.name) == host.expected, host.name


def _assert_no_password_in_proc(pg_cluster, hosts: list[Host]) -> None:
    """The hosts' front-ends run with the PostgreSQL handler, and the password is in
    no process's arguments (which every user can read)."""
    ours = [f"--state-dir={host.dir}/" for host in hosts]
    handlers = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert pg_cluster.password not in argv, f"pid {pid} shows the password: {argv!r}"
        handlers += "--handler=postgresql" in argv and any(d in argv for d in ours)
    assert handlers == len(hosts)


def test_three_hosts_start_cold_at_once_on_a_fresh_cluster(pg_cluster, hosts, db):
    """No godo has written yet: three hosts' godo start together, so their
    front-ends create godo's database, collections and indexes at the same moment
    (godo's FerretDB takes the catalog's advisory lock for that; v1.24.2 failed all
    but one with SQLSTATE 42P07)."""
    three = hosts(3)
    for host in three:
        host.finish()
    _assert_all_once(db, three)
    for host in three:
        assert db.runs.count_documents({"host": host.name}) == 1, host.name


def test_three_hosts_write_at_once(pg_cluster, hosts, db, live_audit, short_tmp):
    """Two replays and one live `godo record` (holding the live lock, through
    `live_audit`) write into the cluster at the same time."""
    replays = hosts(2)
    script = "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done"
    live_env = _env(short_tmp / "live", GODO_POSTGRESQL_URL=pg_cluster.url(password=True))
    live = subprocess.Popen(GODO + ["record", "--", "sh", "-c", script], env=live_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for host in replays:
            host.finish()
        _assert_all_once(db, replays)
        _out, err = live.communicate(timeout=EXIT_BOUND * 2)
    finally:
        if live.poll() is None:  # a failed test: godo stops its front-end on SIGTERM
            live.terminate()
            live.communicate(timeout=60)
    assert live.returncode == 0, err
    run = db.runs.find_one({"command": ["sh", "-c", script]})
    assert run is not None and run["status"] == "finished", err
    trues = db.processes.count_documents({"run": run["_id"], "exe": "/usr/bin/true"})
    assert trues == 100, "every /bin/true of the live run, once"
    assert db.processes.count_documents({"run": run["_id"]}) == 101, "and the shell"


def test_the_primary_killed_and_the_standby_promoted_mid_run(pg_cluster, hosts, db):
    two = hosts(2)
    for host in two:
        _wait_for_documents(db, host.name)
    _assert_no_password_in_proc(pg_cluster, two)
    pg_cluster.kill_primary()
    pg_cluster.promote()
    for host in two:
        host.finish()
    _assert_all_once(db, two)
    assert pg_cluster.writable() is pg_cluster.standby


def test_the_database_down_for_a_minute(pg_cluster, hosts, db):
    (host,) = hosts(1)
    _wait_for_documents(db, host.name)
    pg_cluster.stop_all()
    # The second half arrives while the database is down: godo keeps it (its
    # spill journal) and writes it once the database is back.
    host.feed_second_half()
    time.sleep(OUTAGE)
    assert host.proc.poll() is None, "godo waits for its input, whatever the database does"
    pg_cluster.start_all()
    host.finish()
    _assert_all_once(db, [host])


def test_a_cluster_down_at_start_is_one_line_naming_it(pg_cluster, short_tmp):
    """With no server of the cluster up, godo fails at once (its front-end answers;
    the cluster does not), on one line naming the cluster without its password."""
    pg_cluster.stop_all()
    write_log(short_tmp / "a.log", 5, 1)
    started = time.monotonic()
    done = subprocess.run(GODO + ["replay", "--host", "h1", str(short_tmp / "a.log")],
                          env=_env(short_tmp, GODO_POSTGRESQL_URL=pg_cluster.url(password=True)),
                          capture_output=True, text=True, timeout=EXIT_BOUND)
    assert done.returncode == 1
    assert time.monotonic() - started < 30, "not the front-end's start timeout"
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("godo: the database at postgres://***@127.0.0.1:")
    assert "(through this host's FerretDB)" in line and ".go:" not in line.split("failed:")[1]
    assert pg_cluster.password not in line and ".sock" not in line


def test_store_serve_keeps_this_hosts_front_end_up(pg_cluster, hosts, short_tmp):
    """`godo store serve` with the cluster's URL serves this host's front-end: what
    any host wrote is read through it."""
    (host,) = hosts(1)
    host.finish()
    assert host.wait()[0] == 0
    env = _env(short_tmp / "reader", GODO_POSTGRESQL_URL=pg_cluster.url(password=True))
    serve = subprocess.Popen(GODO + ["store", "serve"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        uri = serve.stdout.readline().strip()
        assert uri.startswith("mongodb://") and "ferretdb-pg-" in uri, serve.stderr.read()
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=20_000) as client:
            assert client.godo.runs.count_documents({"host": "h1"}) == 1
    finally:
        serve.terminate()
        _out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
