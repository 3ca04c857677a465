"""Fault injection: the database killed, stalled or mute; godo SIGKILLed; bad logs;
credentials and file modes. Real kernel, real FerretDB, nothing stands in.

Each test that kills FerretDB runs its own `EmbeddedFerret` in tmp_path and
restarts it on the same data directory and port, leaving the session's alone.
"Exactly once" is checked by counting documents by what the workload did: every
file it wrote has one document, found by its path, and every `_id` godo had
journaled is in the database once.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bson
import pymongo
import pytest

from godo.source import audit as A
from godo.hotpath import contract as S
from godo.source.rules import native_arch
from godo.errors import GodoError, StoreError
from godo.store.ferret import EmbeddedFerret
from support.journal import read_all
from godo.run.replay import replay
from godo.store.base import NullStore
from godo.store.journal_dir import journal_dir_for
from godo.store.opening import database, open_store
from godo.store.writer import MongoStore

store = pytest.mark.store
GODO = [sys.executable, "-m", "godo"]
FILES = 40  # files per phase of the workload


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _godo_rules() -> int:
    with A.AuditControl() as control:
        return sum(1 for rule, _raw in control.list_rules() if A.GODO_KEY in rule.keys)


class _Server:
    """A private FerretDB that a test kills and brings back on the same port."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.ferret = EmbeddedFerret(root, port=self.port).start()

    def uri(self, db: str, auth: str = "") -> str:
        return f"mongodb://{auth}127.0.0.1:{self.port}/{db}?directConnection=true" + (
            "&authMechanism=PLAIN" if auth else "")

    def kill(self) -> None:
        os.kill(self.ferret.pid, signal.SIGKILL)
        self.ferret.stop()  # reaps it and lets go of the directory's lock

    def restart(self) -> None:
        self.ferret = EmbeddedFerret(self.root, port=self.port).start()

    def stop(self) -> None:
        self.ferret.stop()


@pytest.fixture
def server(tmp_path, ferret_uri):
    # ferret_uri: skipped, or failed under GODO_REQUIRE_STORE, without FerretDB.
    srv = _Server(tmp_path / "db")
    yield srv
    srv.stop()


@pytest.fixture
def work():
    """A short directory for the workload's files and the gates it waits on."""
    path = Path(tempfile.mkdtemp(prefix="godo-f-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _workload(work: Path) -> str:
    """Three phases of FILES written files, each phase behind a gate file the test
    creates: phase a, then (gate go1) phase b, then (gate go2) phase c."""
    def phase(name):
        return (f"i=0; while [ $i -lt {FILES} ]; do echo $i > {work}/{name}$i; "
                f"/bin/true; i=$((i+1)); done; : > {work}/{name}.done")

    def gate(name):
        return f"while [ ! -e {work}/{name} ]; do sleep 0.05; done"

    return "; ".join([phase("a"), gate("go1"), phase("b"), gate("go2"), phase("c")])


def _count_files(db, work: Path, prefix: str, run: str | None = None) -> dict[str, int]:
    query = {"path": {"$regex": f"^{work}/{prefix}[0-9]+$"}}
    if run is not None:
        query["run"] = run
    counts: dict[str, int] = {}
    for doc in db.files.find(query, {"path": 1}):
        counts[doc["path"]] = counts.get(doc["path"], 0) + 1
    return counts


def _godo(env: dict, *args, **popen) -> subprocess.Popen:
    return subprocess.Popen(GODO + list(args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_MONGO_URI", "GODO_CONFIG")}
    env["GODO_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _journal_ids(path: Path) -> set:
    found = set()
    if path.exists():
        for directory in [path, *path.parent.glob(path.name + ".*")]:
            found |= {(name, _id) for name, _id, _key, _raw in read_all(directory)}
    return found


# -- the database killed in the middle of a recording -----------------------------------

def _record_and_kill_the_database(env: dict, server: _Server, uri: str, db: str,
                                  work: Path) -> subprocess.Popen:
    """godo recording the workload; phase a in the database, then FerretDB
    SIGKILLed and phase b run with the database gone."""
    godo = _godo(env, "record", "--mongo", uri, "--", "sh", "-c", _workload(work))
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        with client:
            _wait(lambda: len(_count_files(client[db], work, "a")) == FILES, 30,
                  "phase a in the database")
        server.kill()
        (work / "go1").touch()
        _wait(lambda: (work / "b.done").exists(), 30, "phase b to run")
    except BaseException:
        godo.kill()
        # Both gates: a workload left waiting at the first would loop forever.
        (work / "go1").touch()
        (work / "go2").touch()
        godo.communicate(timeout=60)
        raise
    return godo


def test_ferretdb_killed_mid_recording_every_document_arrives_once(live_audit, server, work, tmp_path):
    uri = server.uri("faults")
    journal = journal_dir_for(tmp_path / "data", uri, "faults")
    godo = _record_and_kill_the_database(_env(tmp_path), server, uri, "faults", work)
    try:
        # With the database gone the writer journals what waits (spill_after 2 s).
        _wait(lambda: {p for c, p in _journal_ids(journal) if c == "files"}, 20,
              "file documents in the journal", interval=0.2)
        server.restart()
        (work / "go2").touch()
        out, err = godo.communicate(timeout=120)
    finally:
        if godo.poll() is None:
            godo.kill()
            (work / "go2").touch()
            godo.communicate(timeout=60)
    assert godo.returncode == 0, err
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    with client:
        db = client.faults
        run = db.runs.find_one({"mode": "unicast"})
        for prefix in "abc":
            counts = _count_files(db, work, prefix, run["_id"])
            assert sorted(counts) == sorted(f"{work}/{prefix}{i}" for i in range(FILES)), prefix
            assert set(counts.values()) == {1}, f"phase {prefix}: a file with two documents"
        written = db.files.count_documents({"run": run["_id"], "path": {"$regex": f"^{work}/"},
                                            "writes": 1, "status": "closed"})
        assert written == 3 * FILES
        # Every process once: one document per process the tracker saw.
        procs = list(db.processes.find({"run": run["_id"]}, {"pid": 1, "start": 1}))
        assert len(procs) == run["processes"] == len({(p["pid"], p["start"]) for p in procs})
        trues = db.processes.count_documents({"run": run["_id"], "exe": "/usr/bin/true"})
        assert trues == 3 * FILES
    assert run["status"] == "finished" and run["kernel_lost"] == 0
    assert run["godo_lost"] == 0, run["loss"]
    assert run["priority_boost"] == 4, "the live thread ran at godo's own priority"
    assert run["store"]["spilled"] > 0 and run["store"]["replayed"] >= run["store"]["spilled"]
    assert run["store"]["pending"] == 0
    assert not list(journal.glob("*.seg")), "the journal is empty once replayed"


# -- godo SIGKILLed in the middle of a recording ------------------------------------------

def _foreign_rule() -> A.AuditRule:
    arch = native_arch()
    # Another tool's rule: it must survive godo, its crash and its recovery.
    return A.AuditRule(S.numbers(arch, ["chdir"]), [
        (A.FIELD_ARCH, A.OP_EQUAL, arch), (A.FIELD_SESSIONID, A.OP_EQUAL, 4_000_000_000),
        (A.FIELD_FILTERKEY, A.OP_EQUAL, "other-tool")])


def test_godo_sigkilled_mid_recording_next_start_cleans_up_and_replays(live_audit, server, work,
                                                                       tmp_path):
    uri = server.uri("killed")
    journal = journal_dir_for(tmp_path / "data", uri, "killed")
    env = _env(tmp_path)
    with A.AuditControl() as control:
        foreign = control.add_rule(_foreign_rule())
    try:
        godo = _record_and_kill_the_database(env, server, uri, "killed", work)
        try:
            def phase_b_journaled():
                docs = read_all(journal) if journal.exists() else []
                paths = {bson.decode(raw).get("path") for name, _id, _key, raw in docs if name == "files"}
                return all(f"{work}/b{i}" in paths for i in range(FILES))
            _wait(phase_b_journaled, 30, "phase b's files in the journal", interval=0.2)
        finally:
            godo.kill()  # SIGKILL: no clean-up of any kind
            # The orphaned workload holds godo's pipes open: let it finish first.
            (work / "go2").touch()
            godo.communicate(timeout=60)
        assert _godo_rules() > 0, "the killed godo left its rules (the next start removes them)"
        expected = {(name, _id) for name, _id, _key, _raw in read_all(journal)}
        assert expected
        server.restart()
        again = _godo(env, "record", "--mongo", uri, "--", "true")
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert _godo_rules() == 0, "a stale godo rule survived the next start"
        with A.AuditControl() as control:
            assert foreign in [raw for _rule, raw in control.list_rules()], \
                "godo removed a rule it had not added"
    finally:
        with A.AuditControl() as control:
            control.delete_rule(foreign)
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    with client:
        db = client.killed
        for name in {name for name, _id in expected}:
            ids = [_id for n, _id in expected if n == name]
            assert db[name].count_documents({"_id": {"$in": ids}}) == len(ids), name
        counts = _count_files(db, work, "b")
        assert sorted(counts) == sorted(f"{work}/b{i}" for i in range(FILES))
        assert set(counts.values()) == {1}
        assert len(_count_files(db, work, "a")) == FILES
        killed_run = db.runs.find_one({"command": ["sh", "-c", _workload(work)]})
        assert killed_run["status"] == "running", "the killed run's document says it never ended"
        second = db.runs.find_one({"command": ["true"]})
        assert second["store"]["recovered"] >= len(expected) and second["godo_lost"] == 0
    assert not list(journal.glob("*.seg"))


# -- a database that stalls, or never answers ----------------------------------------------

@store
def test_close_with_a_stalled_database_journals_the_rest_and_the_next_start_replays(server, tmp_path):
    uri = server.uri("stalled")
    options = dict(host="h", timeout=1.0, spill_after=0.5, journal_dir=tmp_path / "journal")
    first = MongoStore(uri, "stalled", **options)
    first.start()
    os.kill(server.ferret.pid, signal.SIGSTOP)
    try:
        first.write([("processes", {"_id": f"p{i}", "v": 1}) for i in range(300)])
        first.write([("runs", {"_id": "r", "status": "running"})])
        first.write([("runs", {"_id": "r", "status": "finished"})])
        began = time.monotonic()
        first.close()  # no error: nothing is lost, it waits in the journal
        took = time.monotonic() - began
        assert first.journaled == 302 and first.stats()["dropped"] == 0
    finally:
        os.kill(server.ferret.pid, signal.SIGCONT)
    assert took < 10, f"close took {took:.1f} s with the database stalled"
    second = MongoStore(uri, "stalled", **options)
    second.start()
    assert second.flush(60)
    assert second.db.processes.count_documents({}) == 300
    assert second.db.runs.find_one({"_id": "r"})["status"] == "finished", "replayed out of order"
    stats = second.stats()
    second.close()
    assert stats["recovered"] == 302 and stats["unaccounted"] == 0
    assert not list((tmp_path / "journal").glob("*.seg"))


@store
def test_a_full_journal_makes_writes_wait_then_go_on(server, tmp_path):
    uri = server.uri("full")
    s = MongoStore(uri, "full", host="h", timeout=1.0, max_queued=10, spill_after=0.2,
                   journal_dir=tmp_path / "journal", journal_max_bytes=64 * 1024)
    s.start()
    done = threading.Event()

    def tracker():
        for start in range(0, 2000, 100):
            s.write([("files", {"_id": f"f{i}", "pad": "x" * 200}) for i in range(start, start + 100)])
        done.set()

    os.kill(server.ferret.pid, signal.SIGSTOP)
    try:
        thread = threading.Thread(target=tracker, daemon=True)
        thread.start()
        assert not done.wait(2.0), "writes went on past a full journal"
        stats = s.stats()
        assert stats["backpressure_waits"] >= 1 and stats["journal"]["bytes"] <= 64 * 1024
        # In memory: under the bound, and what the writer read back to send (a chunk).
        assert stats["memory_only"] <= 10 + 100 and stats["in_memory"] <= 1000 + 100
    finally:
        os.kill(server.ferret.pid, signal.SIGCONT)
    assert done.wait(120), "writes never resumed"
    assert s.flush(120)
    assert s.db.files.count_documents({}) == 2000
    assert s.stats()["dropped"] == 0
    s.close()


@store
def test_interrupt_ends_the_wait_for_a_full_journal_and_counts_the_drop(server, tmp_path):
    s = MongoStore(server.uri("drop"), "drop", host="h", timeout=0.5, max_queued=1,
                   spill_after=0.2, stall_timeout=1.0, journal_dir=tmp_path / "journal",
                   journal_max_bytes=4096)
    s.start()
    server.kill()
    writer = threading.Thread(target=lambda: [s.write([("files", {"_id": f"f{i}", "pad": "x" * 500})])
                                              for i in range(100)], daemon=True)
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive(), "the writes did not wait for room"
    s.interrupt()
    writer.join(10)
    assert not writer.is_alive()
    stats = s.stats()
    assert stats["dropped"] > 0 and "dropped" in stats["last_error"]
    assert stats["journal"]["unread_mutations"] + stats["dropped"] + stats["in_memory"] == 100
    try:
        s.close()  # what the journal holds stays for the next start
    except StoreError as exc:
        # Writes taken before the journal filled, still waiting to be encoded, had
        # nowhere to go: said in one line, and counted as dropped.
        assert str(exc).split()[1:5] == ["document", "writes", "were", "not"]
    assert s.journaled + s.stats()["dropped"] == 100


class _MuteServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def mute():
    server = _MuteServer()
    yield server
    server.close()


def test_a_store_that_accepts_connections_but_never_answers(mute, tmp_path):
    uri = f"mongodb://godo:hunter2secret@127.0.0.1:{mute.port}/godo"
    began = time.monotonic()
    with pytest.raises(StoreError) as caught:
        with open_store(uri, tmp_path, timeout=1.0):
            pass
    took = time.monotonic() - began
    message = str(caught.value)
    assert took < 10, f"godo waited {took:.1f} s for a server that never answers"
    assert message.startswith("cannot reach the database at mongodb://***:***@127.0.0.1:")
    assert "\n" not in message and "hunter2secret" not in message
    assert len(mute.held) >= 1, "the server was never even connected to"
    began = time.monotonic()
    with pytest.raises(StoreError):
        with database(uri, tmp_path, timeout=1.0):
            pass
    assert time.monotonic() - began < 10


def test_godo_record_with_a_mute_store_fails_in_one_line_before_touching_audit(mute, tmp_path):
    env = _env(tmp_path, GODO_MONGO_URI=f"mongodb://127.0.0.1:{mute.port}/godo?serverSelectionTimeoutMS=1500")
    before = _audit_rules_and_pid()
    result = subprocess.run(GODO + ["record", "--", "true"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("godo: cannot reach the database")
    assert _audit_rules_and_pid() == before


def _audit_rules_and_pid():
    with A.AuditControl() as control:
        return control.status().pid, sorted(raw for _rule, raw in control.list_rules())


# -- bad input ---------------------------------------------------------------------------

GOOD = (b'type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=257 success=yes exit=3 '
        b'a0=ffffff9c a1=1 a2=241 a3=1b6 items=2 ppid=1 pid=42 auid=0 uid=0 gid=0 euid=0 suid=0 '
        b'fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="sh" exe="/bin/sh" key="godo"\n'
        b'type=CWD msg=audit(1700000000.100:10): cwd="/tmp"\n'
        b'type=PATH msg=audit(1700000000.100:10): item=0 name="/tmp/" inode=1 dev=00:01 mode=041777 '
        b'ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0\n'
        b'type=PATH msg=audit(1700000000.100:10): item=1 name="/tmp/x" inode=2 dev=00:01 mode=0100644 '
        b'ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0\n'
        b'type=PROCTITLE msg=audit(1700000000.100:10): proctitle="sh"\n')


def _bad_log() -> tuple[bytes, list[int]]:
    lines = [
        b"this is not an audit record",                                   # 6
        b"type=SYSCALL msg=audit(garbage): arch=c000003e",                # 7
        b"type=SYSCALL msg=audit(1700000000.200:11) no colon",             # 8
        b"\x00\xff\xfe binary \x1b[31m junk",                              # 9
        b"type=" + b"A" * 100_000,                                         # 10: far too long
    ]
    body = GOOD + b"\n".join(lines) + b"\n" + GOOD.replace(b":10)", b":12)")
    # Cut short in the middle of the last record's header, as a crash leaves a log.
    return body + b"type=SYSCALL msg=audit(1700000000.3", [6, 7, 8, 9, 10, 16]


def test_malformed_and_truncated_lines_are_counted_with_their_line_numbers(tmp_path):
    body, bad_lines = _bad_log()
    path = tmp_path / "bad.log"
    path.write_bytes(body)
    seen = []
    report = replay(str(path), NullStore(host="h"), on_activities=seen.extend)
    assert [a.kind for a in seen] == ["open", "open"], "the good events around the bad lines"
    assert report.pipeline["malformed"] == len(bad_lines)
    places = [error.split(": ", 1)[0] for error in report.errors]
    assert places == [f"bad.log:{n}" for n in bad_lines]
    assert report.document()["malformed"] == len(bad_lines)


def test_godo_replay_reports_each_malformed_line(tmp_path):
    body, bad_lines = _bad_log()
    (tmp_path / "bad.log").write_bytes(body)
    result = subprocess.run(GODO + ["replay", "--store", "null", "--jsonl", str(tmp_path / "bad.log")],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    for n in bad_lines:
        assert f"bad.log:{n}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_truncated_gzip_keeps_what_was_read_and_fails_in_one_line(tmp_path):
    whole = gzip.compress(GOOD * 2000)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(whole[:len(whole) // 2])
    seen = []
    with pytest.raises(GodoError) as caught:
        replay(str(path), NullStore(host="h"), on_activities=seen.extend)
    assert "cut.log.gz" in str(caught.value) and "\n" not in str(caught.value)
    assert seen, "the events before the cut were lost"
    result = subprocess.run(GODO + ["replay", "--store", "null", str(path)], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_no_input_grows_godo_without_bound(tmp_path):
    # 64 MiB with no newline, then 64 MiB of records that never complete an event.
    path = tmp_path / "huge.log"
    with open(path, "wb") as f:
        f.write(b"type=SYSCALL " + b"x" * (64 << 20) + b"\n")
        line = (b'type=PATH msg=audit(1700000000.1:%d): item=0 name="/%s" nametype=NORMAL\n')
        chunk = b"".join(line % (n, b"y" * 200) for n in range(200_000))
        for _ in range(3):
            f.write(chunk)
    code = ("import resource, sys\n"
            "from godo.run.replay import replay\nfrom godo.store.base import NullStore\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "r = replay(sys.argv[1], NullStore(host='h'))\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(after - before, r.pipeline['malformed'], r.pipeline['records'])\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    grown_kb, malformed, records = map(int, result.stdout.split())
    assert malformed >= 1 and records == 600_000
    assert grown_kb < 200 * 1024, f"replay grew by {grown_kb / 1024:.0f} MiB on a 190 MiB log"


# -- credentials and file modes ---------------------------------------------------------------

def test_credentials_appear_in_no_document_file_or_argv(live_audit, server, tmp_path):
    secret = "hunter2secret"
    uri = server.uri("creds", auth=f"godo:{secret}@")
    env = _env(tmp_path, GODO_MONGO_URI=uri)
    godo = _godo(env, "record", "--", "sh", "-c", "echo x > /dev/null; sleep 1")
    try:
        _wait(lambda: _godo_rules() > 0, 30, "godo to start recording")
        argv = Path(f"/proc/{godo.pid}/cmdline").read_bytes()
        assert secret.encode() not in argv
        out, err = godo.communicate(timeout=60)
    finally:
        if godo.poll() is None:
            godo.kill()
            godo.communicate()
    assert godo.returncode == 0, err
    assert secret not in out + err
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    with client:
        run = client.creds.runs.find_one({})
        assert run is not None and secret not in repr(run)
    data = tmp_path / "data"
    for path in data.rglob("*"):
        assert secret not in str(path)
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_the_journal_path_names_no_credentials():
    path = journal_dir_for("/d", "mongodb://godo:hunter2secret@db.example:27017/?authSource=admin", "g")
    assert "hunter2" not in str(path) and "godo:" not in str(path)
    assert journal_dir_for("/d", "mongodb://a:1@db.example:27017/", "g") == \
        journal_dir_for("/d", "mongodb://b:2@db.example:27017/?w=1", "g"), "one database, one journal"
    assert journal_dir_for("/d", "mongodb://db.example/", "g") != journal_dir_for("/d", "mongodb://db.example/", "h")
    assert journal_dir_for("/d", None, "g") != journal_dir_for("/d", "mongodb://127.0.0.1:1/", "g")


@store
def test_data_dir_journal_and_segments_are_private(server, tmp_path, monkeypatch):
    monkeypatch.setenv("GODO_DATA_DIR", str(tmp_path / "data"))
    old = os.umask(0)  # the most permissive umask: modes must not depend on it
    try:
        from godo.paths import data_dir
        root = data_dir()
        with open_store(server.uri("modes"), root, spill_after=0.1) as s:
            os.kill(server.ferret.pid, signal.SIGSTOP)
            try:
                s.write([("files", {"_id": "f1"})])
                _wait(lambda: list(s.journal.dir.glob("*.seg")), 10, "a spilled segment")
                segments = list(s.journal.dir.glob("*.seg"))
                modes = {p: p.stat().st_mode & 0o777 for p in [root, root / "journal", s.journal.dir,
                                                              *segments, s.journal.dir / "lock"]}
            finally:
                os.kill(server.ferret.pid, signal.SIGCONT)
    finally:
        os.umask(old)
    assert modes[root] == 0o700 and modes[root / "journal"] == 0o700
    assert modes[s.journal.dir] == 0o700 and modes[s.journal.dir / "lock"] == 0o600
    assert all(modes[p] == 0o600 for p in segments)


def test_a_config_file_others_can_write_is_refused(tmp_path):
    from godo import config
    from godo.errors import ConfigError
    path = tmp_path / "godo.toml"
    path.write_text('[store]\nuri = "mongodb://127.0.0.1/"\n')
    os.chmod(tmp_path, 0o755)
    for mode in (0o666, 0o620):
        os.chmod(path, mode)
        with pytest.raises(ConfigError, match="refusing"):
            config.load(str(path))
    os.chmod(path, 0o600)
    assert config.load(str(path)).get("store", "uri") == "mongodb://127.0.0.1/"


def test_status_shows_the_last_runs_losses():
    from rich.console import Console

    from godo.cli.views import render_status
    run = {"_id": "h:1", "status": "finished", "mode": "unicast", "scope": "command 1",
           "kernel_lost": 0, "serial_gaps": 3, "godo_lost": 0,
           "store": {"spilled": 120, "replayed": 120, "pending": 0}}
    report = {"audit": {"enabled": 1, "owner": None, "backlog": 0, "backlog_limit": 65536,
                        "backlog_wait_time": 0, "lost": 5, "rate_limit": 0, "failure": 1},
              "rules": {"godo": [], "other": []}, "version": "x", "hotpath": "accelerated",
              "store": {"where": "here", "database": "godo", "counts": {}, "last_run": run}}
    console = Console(width=200, record=True)
    console.print(render_status(report))
    text = console.export_text()
    assert "kernel lost 0" in text and "serial gaps 3" in text
    assert "godo lost 0" in text and "spilled 120" in text
