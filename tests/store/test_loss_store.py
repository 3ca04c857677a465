"""No loss that nobody hears of (issue 20, cases 7 to 11), against a real FerretDB
(the `server` fixture: a private one a test stops, kills and restarts), real small
filesystems (a tmpfs mounted for the test) and real FIFOs. Every test counts the
documents: what the database holds plus what godo counted as lost is what the
generated log makes, and a loss makes the exit status 1 with a line that says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo
import pytest

from godo.run.replay import replay
from godo.store.journal import DAMAGED, RECORD_MAGIC
from godo.store.opening import open_store
from support.faults import _env, _wait
from support.genlog import FIRST_CHILD, write_log

GODO = [sys.executable, "-m", "godo"]


def _godo(args, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(GODO + args, env=env, capture_output=True, text=True, timeout=600, **kw)


def _counts(uri: str, db: str) -> dict:
    """Documents of the generated logs: files, and processes but the shell."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return {"files": client[db].files.count_documents({}),
                "processes": client[db].processes.count_documents({"pid": {"$gte": FIRST_CHILD}})}


def _runs(uri: str, db: str) -> list[dict]:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return list(client[db].runs.find({}, sort=[("started", 1)]))


def _journal_dir(data: Path) -> Path:
    """The one journal directory a test's run left segments in (its name comes from
    the database's identity, which the stopped server cannot be asked for)."""
    (journal,) = {path.parent for path in (data / "journal").glob("*/*.seg")}
    return journal


def _wait_for_run(uri: str, db: str, timeout: float = 60) -> None:
    """Until godo has written its run's first document: it is connected."""
    _wait(lambda: _runs(uri, db), timeout, "godo's run document")


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts a small tmpfs (size=N) where the test says; unmounted in teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(where)], check=True)
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


# -- 7: a damaged journal ---------------------------------------------------------------------

@pytest.mark.store
def test_a_damaged_journal_record_is_skipped_counted_said_and_kept(server, tmp_path):
    db = "damaged"
    uri = server.uri(db)
    data = tmp_path / "data"
    first = write_log(tmp_path / "a.log", 40, 25, pad=3000)
    second = write_log(tmp_path / "b.log", 5, 4, first=1000)
    # The first replay's documents all go to the journal: the database is stopped.
    with open_store(uri, data, database=db, spill_after=0.2) as store:
        os.kill(server.ferret.pid, signal.SIGSTOP)
        replay(str(tmp_path / "a.log"), store)
    journal = _journal_dir(data)
    try:
        (segment,) = sorted(journal.glob("*.seg"))
        raw = bytearray(segment.read_bytes())
        starts = [i for i in range(len(raw)) if raw.startswith(RECORD_MAGIC, i)]
        assert len(starts) >= 4, "the test wants a record in the middle to damage"
        middle = starts[len(starts) // 2]
        raw[middle + 200] ^= 0x40           # one byte of one record's payload
        segment.write_bytes(bytes(raw))
    finally:
        os.kill(server.ferret.pid, signal.SIGCONT)
    env = _env(tmp_path)
    done = _godo(["replay", "--mongo", uri, str(tmp_path / "b.log")], env)
    assert done.returncode == 1, done.stderr
    run = _runs(uri, db)[-1]
    lost = run["loss"]["journal"]
    assert 0 < lost < first["files"] and run["loss"]["journal_unknown"] == 0
    assert run["store"]["journal"]["lost_records"] == 1
    assert f"the spill journal was damaged: {lost} document writes lost in 1 records" in done.stderr
    assert f"godo lost {lost} " in done.stderr
    counts = _counts(uri, db)
    expected = first["files"] + first["processes"] - 1 + second["files"] + second["processes"] - 1
    assert counts["files"] + counts["processes"] + lost == expected
    # The damaged segment is kept aside, never deleted; status says so.
    assert [p.name for p in (journal / DAMAGED).iterdir()] == [segment.name]
    assert not list(journal.glob("*.seg"))
    status = _godo(["status", "--json", "--mongo", uri], env)
    state = json.loads(status.stdout)["journal"]
    assert state["damaged_segments"] == 1 and state["segments"] == 0


@pytest.mark.store
def test_status_tells_what_waits_in_the_journal(server, tmp_path):
    db = "waits"
    uri = server.uri(db)
    data = tmp_path / "data"
    write_log(tmp_path / "a.log", 20, 10, pad=500)
    with open_store(uri, data, database=db, spill_after=0.2) as store:
        os.kill(server.ferret.pid, signal.SIGSTOP)
        replay(str(tmp_path / "a.log"), store)
    try:
        segments = list(_journal_dir(data).glob("*.seg"))
        size = sum(p.stat().st_size for p in segments)
        assert size > 0
        status = _godo(["status", "--json", "--mongo", server.uri(db)], _env(tmp_path))
        state = json.loads(status.stdout)["journal"]
        assert (state["segments"], state["bytes"]) == (len(segments), size)
    finally:
        os.kill(server.ferret.pid, signal.SIGCONT)


# -- 8: a full journal disk, the database stopped then back --------------------------------------

@pytest.mark.store
def test_a_full_journal_disk_holds_back_and_loses_nothing(server, tmp_path, tmpfs):
    db = "fulldisk"
    uri = server.uri(db)
    log = write_log(tmp_path / "a.log", 150, 20, pad=1000)   # ~5 MB of journal
    env = _env(tmp_path)
    tmpfs(tmp_path / "data" / "journal", "2m")
    config = tmp_path / "godo.toml"
    config.write_text("[store]\nmax_queued = 500\n")        # the producer waits soon
    env["GODO_CONFIG"] = str(config)
    proc = subprocess.Popen(GODO + ["replay", "--mongo", uri, str(tmp_path / "a.log")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_run(uri, db)
        os.kill(server.ferret.pid, signal.SIGSTOP)
        time.sleep(12)
        os.kill(server.ferret.pid, signal.SIGCONT)
        _out, err = proc.communicate(timeout=300)
    finally:
        os.kill(server.ferret.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "the spill journal has no room" in err
    assert "the recording waits for the database" in err
    assert _counts(uri, db) == {"files": log["files"], "processes": log["processes"] - 1}
    (run,) = _runs(uri, db)
    assert run["status"] == "finished" and run["godo_lost"] == 0
    assert run["store"]["backpressure_waits"] >= 1


# -- 9: the database killed mid-replay ------------------------------------------------------------

@pytest.mark.store
def test_a_killed_database_ends_the_replay_within_a_stated_bound(server, tmp_path):
    db = "killed"
    uri = server.uri(db)
    first = write_log(tmp_path / "a.log", 200, 30)
    second = write_log(tmp_path / "b.log", 5, 4, first=1000)
    env = _env(tmp_path)
    proc = subprocess.Popen(GODO + ["replay", "--mongo", uri, str(tmp_path / "a.log")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_run(uri, db)
        server.kill()
        killed = time.monotonic()
        _out, err = proc.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        proc.kill()
        proc.wait()
    # Bounded: the settle (5 s), the writer's own (5 s), the spill (2 s), and slack.
    assert took < 40, f"godo waited {took:.0f} s for a dead database"
    assert proc.returncode == 0, err
    assert "the database took nothing for 5 s" in err
    left = int(err.split("the database did not take ")[1].split()[0])
    assert f"journal {left} document writes left for the next start" in err
    server.restart()
    done = _godo(["replay", "--mongo", uri, str(tmp_path / "b.log")], env)
    assert done.returncode == 0, done.stderr
    assert _counts(uri, db) == {"files": first["files"] + second["files"],
                                "processes": first["processes"] + second["processes"] - 2}
    runs = _runs(uri, db)
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert runs[1]["store"]["recovered"] == left


# -- 10: the log opened once ------------------------------------------------------------------------

@pytest.mark.store
@pytest.mark.parametrize("how", ["fifo", "process substitution", "stdin"])
def test_a_log_that_can_be_read_once_is_read_whole(server, tmp_path, how):
    db = "once_" + how.split()[0]
    uri = server.uri(db)
    log = write_log(tmp_path / "a.log", 30, 10)
    env = _env(tmp_path)
    if how == "fifo":
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        feeder = threading.Thread(target=lambda: fifo.write_bytes((tmp_path / "a.log").read_bytes()),
                                  daemon=True)
        feeder.start()
        done = _godo(["replay", "--mongo", uri, str(fifo)], env)
        feeder.join(10)
    elif how == "stdin":
        with open(tmp_path / "a.log", "rb") as stdin:
            done = subprocess.run(GODO + ["replay", "--mongo", uri, "/dev/stdin"], env=env,
                                  stdin=stdin, capture_output=True, text=True, timeout=600)
    else:
        command = " ".join(GODO) + f" replay --mongo '{uri}' <(cat '{tmp_path / 'a.log'}')"
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=600)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "a.log").read_bytes().count(b"\n")
    assert f"records {lines}" in done.stderr and "malformed 0" in done.stderr
    assert _counts(uri, db) == {"files": log["files"], "processes": log["processes"] - 1}


# -- 11: one line, and counts that match -------------------------------------------------------------

@pytest.mark.store
def test_the_summary_counts_what_the_database_holds(server, tmp_path):
    db = "counts"
    uri = server.uri(db)
    log = write_log(tmp_path / "a.log", 30, 10)
    env = _env(tmp_path)
    done = _godo(["replay", "--mongo", uri, str(tmp_path / "a.log")], env)
    assert done.returncode == 0, done.stderr
    with pymongo.MongoClient(uri) as client:
        held = sum(client[db][name].count_documents({}) for name in ("processes", "files", "runs"))
    assert held == log["processes"] + log["files"] + 1
    assert f"store {held} docs" in done.stderr
    huge = _godo(["files", "--mongo", uri, "--limit", "99999999999999999999"], env)
    assert huge.returncode == 2 and huge.stderr.count("\n") == 1
    assert huge.stderr.startswith("godo: --limit 99999999999999999999 is too large")


@pytest.mark.store
def test_a_database_on_a_full_disk_ends_the_replay_within_a_stated_bound(tmp_path, tmpfs, ferret_uri):
    from support.servers import _Server
    disk = tmpfs(tmp_path / "disk", "20m")
    server = _Server(disk / "db")
    try:
        db = "diskfull"
        uri = server.uri(db)
        first = write_log(tmp_path / "a.log", 200, 40, pad=300)
        second = write_log(tmp_path / "b.log", 5, 4, first=1000)
        env = _env(tmp_path)
        pad = disk / "pad"
        # 15 of the disk's 20 MB taken: room for the database to start, not for the log.
        pad.write_bytes(bytes(15 << 20))
        began = time.monotonic()
        done = _godo(["replay", "--mongo", uri, str(tmp_path / "a.log")], env)
        took = time.monotonic() - began
        assert took < 60, f"godo waited {took:.0f} s for a database on a full disk"
        assert done.returncode == 0, done.stderr
        assert "the database took nothing for 5 s" in done.stderr
        left = int(done.stderr.split("the database did not take ")[1].split()[0])
        assert left > 0
        # Room again (a bigger disk: SQLite's write-ahead log alone outgrows 20 MB),
        # and the database restarted: the next start takes it all from the journal.
        pad.unlink()
        subprocess.run(["mount", "-o", "remount,size=200m", str(disk)], check=True)
        server.stop()
        server.restart()
        done = _godo(["replay", "--mongo", uri, str(tmp_path / "b.log")], env)
        assert done.returncode == 0, done.stderr
        runs = _runs(uri, db)
        assert runs[-1]["store"].get("recovered") == left, (done.stderr, [(r["status"], r["store"]) for r in runs])
        assert _counts(uri, db) == {"files": first["files"] + second["files"],
                                    "processes": first["processes"] + second["processes"] - 2}
        assert [r["status"] for r in _runs(uri, db)] == ["finished", "finished"]
    finally:
        server.stop()
