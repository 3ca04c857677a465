"""`godo runs`, `godo prune` and the daemon's retention against the real store
(FerretDB): runs listed newest first with their dates, removed whole with every
document they wrote, a running run refused."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from godo.cli import main
from godo.cli.status import as_seen_now
from godo.paths import boot_id, hostname
from godo.store.retention import Retention
from support.cli import GODO, _json_lines, _one_line_error
from support.paths import DATA

PARTS = ("processes", "files", "containers")


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


@pytest.fixture
def two_runs(env, ferret_uri, store_db, capsys):
    """Two replays into a database of their own: the container log's, then dirfd's."""
    uri = _uri(ferret_uri, store_db)
    for log in ("container.log", "dirfd.log"):
        assert main(["replay", "--mongo", uri, str(DATA / log)]) == 0
    capsys.readouterr()
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    yield uri, db, [r["_id"] for r in db.runs.find(sort=[("started", 1)])]
    client.close()


def _counts(db, rid: str) -> dict[str, int]:
    return {name: db[name].count_documents({"run": rid}) for name in PARTS}


def test_runs_lists_newest_first_with_counts_and_dates(two_runs, capsys):
    uri, db, (first, second) = two_runs
    assert main(["runs", "--mongo", uri, "--json"]) == 0
    listed = _json_lines(capsys.readouterr().out)
    assert [r["_id"] for r in listed] == [second, first]
    assert listed[1]["processes"] == db.processes.count_documents({"run": first}) > 0
    assert main(["runs", "--mongo", uri]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["RUN", "HOST", "MODE", "STARTED", "ENDED", "STATUS", "PROCESSES",
                                "FILES", "COMMAND"]
    assert table[1].startswith(second) and "replay" in table[1] and "finished" in table[1]
    # Started today: the time alone. A run of another day carries its date.
    today = datetime.now().astimezone().strftime("%Y-%m-%d")
    assert today not in table[1]
    db.runs.update_one({"_id": first}, {"$set": {"started": datetime(2026, 1, 2, 3, 4, 5)}})
    assert main(["runs", "--mongo", uri]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith(first) and "2026-01-0" in row  # local time of 03:04:05 UTC on 2 Jan
    assert main(["runs", "--mongo", uri, "--limit", "1", "--json"]) == 0
    assert [r["_id"] for r in _json_lines(capsys.readouterr().out)] == [second]


def test_prune_a_run_removes_it_and_its_documents_only(two_runs, capsys):
    uri, db, (first, second) = two_runs
    before, kept = _counts(db, first), _counts(db, second)
    assert before["processes"] and before["files"] and before["containers"] == 1
    assert main(["prune", "--mongo", uri, "--run", first]) == 0
    assert capsys.readouterr().out == (f"removed 1 runs: {before['processes']} processes, "
                                       f"{before['files']} files, {before['containers']} containers\n")
    assert _counts(db, first) == dict.fromkeys(PARTS, 0) and db.runs.find_one({"_id": first}) is None
    assert _counts(db, second) == kept and db.runs.find_one({"_id": second})


def test_prune_refuses_a_running_run_and_before_passes_it_by(two_runs, capsys):
    uri, db, (first, second) = two_runs
    # A godo that is still recording `second`: this host, this boot, a live process
    # whose command line says godo.
    recorder = subprocess.Popen(["sh", "-c", "sleep 60", "godo"])
    try:
        db.runs.update_one({"_id": second}, {"$set": {
            "status": "running", "ended": None, "host": hostname(), "boot_id": boot_id(),
            "pid": recorder.pid}})
        assert as_seen_now(db.runs.find_one({"_id": second}))["status"] == "running"
        result = subprocess.run(GODO + ["prune", "--mongo", uri, "--run", second],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and "is running" in _one_line_error(result.stderr)
        assert main(["prune", "--mongo", uri, "--before", "now"]) == 0
        assert capsys.readouterr().out.startswith("removed 1 runs:")
        assert [r["_id"] for r in db.runs.find()] == [second]
        assert _counts(db, second)["processes"] > 0
    finally:
        recorder.kill()
        recorder.wait()
    # Its godo gone, the run is interrupted, and --before removes it.
    assert main(["prune", "--mongo", uri, "--before", "now"]) == 0
    assert db.runs.count_documents({}) == 0 and _counts(db, second) == dict.fromkeys(PARTS, 0)


def test_prune_before_an_age_keeps_newer_runs(two_runs, capsys):
    uri, db, (first, second) = two_runs
    db.runs.update_one({"_id": first}, {"$set": {"ended": datetime.now(timezone.utc) - timedelta(days=3)}})
    assert main(["prune", "--mongo", uri, "--before", "2d"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 runs:")
    assert [r["_id"] for r in db.runs.find()] == [second]
    assert main(["prune", "--mongo", uri, "--before", "2d"]) == 0
    assert capsys.readouterr().out == "removed 0 runs: 0 processes, 0 files, 0 containers\n"


def test_the_daemons_retention_prunes_at_start_and_then_on_its_period(two_runs, capsys):
    uri, db, (first, second) = two_runs
    old = datetime.now(timezone.utc) - timedelta(days=40)
    db.runs.update_one({"_id": first}, {"$set": {"ended": old}})
    pruner = Retention(uri, db.name, timedelta(days=30), as_seen_now, every=0.5)
    pruner.start()
    try:
        _wait(lambda: db.runs.find_one({"_id": first}) is None)
        assert _counts(db, first) == dict.fromkeys(PARTS, 0) and db.runs.find_one({"_id": second})
        db.runs.update_one({"_id": second}, {"$set": {"ended": old}})   # ages while it runs
        _wait(lambda: db.runs.count_documents({}) == 0)
    finally:
        pruner.stop()
    assert not pruner.is_alive() and pruner.removed["runs"] == 2 and pruner.failures == 0
    assert "godo: retention: removed 1 runs" in capsys.readouterr().err


def test_ferretdb_refuses_a_ttl_index_which_is_why_retention_prunes_by_run(ferret_uri, store_db):
    with MongoClient(_uri(ferret_uri, store_db), serverSelectionTimeoutMS=5000) as client:
        db = client.get_default_database()
        with pytest.raises(OperationFailure, match="expireAfterSeconds"):
            db.runs.create_index("ended", expireAfterSeconds=30 * 86400)


def _wait(done, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "retention did not prune in time"
        time.sleep(0.1)
