"""Fault injection with the real kernel's audit: the database killed in the middle
of a recording, godo SIGKILLed in the middle of one, a mute store before godo
touches audit, credentials kept out of everything godo writes. Real kernel, real
FerretDB, nothing stands in.

Each test that kills FerretDB runs its own `EmbeddedFerret` in tmp_path and
restarts it on the same data directory and port, leaving the session's alone.
"Exactly once" is checked by counting documents by what the workload did: every
file it wrote has one document, found by its path, and every `_id` godo had
journaled is in the database once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import bson
import pymongo
import pytest

from godo.cli.status import as_seen_now
from godo.vocab import syscalls as S
from godo.source import audit as A
from godo.source.rules import native_arch
from godo.store.journal_dir import journal_dir_of
from support.cli import GODO
from support.faults import _env, _wait
from support.journal import read_all
from support.servers import _Server


FILES = 40  # files per phase of the workload


def _godo_rules() -> int:
    with A.AuditControl() as control:
        return sum(1 for rule, _raw in control.list_rules() if A.GODO_KEY in rule.keys)


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


def _journal_dir(data, uri: str, db: str):
    """The journal directory of database `db`, asked before godo starts (the
    database is up): named from the identity it keeps, which godo then reads."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return journal_dir_of(data, client[db])


def test_ferretdb_killed_mid_recording_every_document_arrives_once(live_audit, server, work, tmp_path):
    uri = server.uri("faults")
    journal = _journal_dir(tmp_path / "data", uri, "faults")
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
    journal = _journal_dir(tmp_path / "data", uri, "killed")
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
        assert killed_run["pid"] == godo.pid
        assert as_seen_now(killed_run)["status"] == "interrupted", "godo status shows it interrupted"
        second = db.runs.find_one({"command": ["true"]})
        assert second["store"]["recovered"] >= len(expected) and second["godo_lost"] == 0
    assert not list(journal.glob("*.seg"))


# -- a database that stalls, or never answers ----------------------------------------------

def test_godo_record_with_a_mute_store_fails_in_one_line_before_touching_audit(live_audit, mute, tmp_path):
    # live_audit: the kernel's audit state compared before and after is ours alone
    # while it runs (another godo recording meanwhile would change it).
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
