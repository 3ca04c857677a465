"""The store writer and the embedded FerretDB, against the real server.

Every test here runs against FerretDB v1.24.2 (the session's `ferret_uri`, or one
of their own when they stop, pause or restart it); nothing here stands in for
the database. What needs no server is in tests/unit/test_store_offline.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pymongo
import pytest

from godo.errors import StoreError
from godo.store import bulk
from godo.run.live import _Gauge
from godo.store.ferret import EmbeddedFerret, connect_or_start, read_endpoint
from godo.store.opening import database, open_store
from godo.store.schema import INDEXES
from godo.store.writer import MongoStore
from support.servers import _alive


store = pytest.mark.store


def _docs(n: int, collection: str = "processes", **fields) -> list:
    return [(collection, {"_id": f"h:{i}", "pid": i, "start": float(i), **fields}) for i in range(n)]


def _open(uri: str, db: str, **options) -> MongoStore:
    options.setdefault("timeout", 2.0)
    mongo_store = MongoStore(uri, db, host="test-host", **options)
    mongo_store.start()
    return mongo_store


# -- writes ---------------------------------------------------------------------------

@store
def test_a_replayed_batch_leaves_one_document_each(ferret_uri, store_db):
    # 300 documents: more than FerretDB 1.x can replace in one update command.
    with _open(ferret_uri, store_db) as s:
        s.write(_docs(300))
        assert s.flush(60)
        s.write(_docs(300))
        s.write(_docs(300, gen=2))
        assert s.flush(120)
        db = s.db
        assert db.processes.count_documents({}) == 300
        assert db.processes.count_documents({"gen": 2}) == 300
        assert db.processes.find_one({"_id": "h:7"}) == {
            "_id": "h:7", "pid": 7, "start": 7.0, "gen": 2, "host": "test-host"}
        stats = s.stats()
    assert stats["submitted"] == 900 and stats["queued"] == 0
    assert stats["errors"] == 0 and stats["rejected"] == 0


@store
def test_the_last_version_of_a_document_wins_within_a_batch(ferret_uri, store_db):
    with _open(ferret_uri, store_db) as s:
        s.write([("files", {"_id": "f", "writes": n}) for n in range(5)])
        assert s.flush(30)
        assert s.db.files.find_one({"_id": "f"})["writes"] == 4
        stats = s.stats()
    assert stats["collections"] == {"files": 1} and stats["coalesced"] == 4


@store
def test_one_round_trip_per_thousand_new_documents(ferret_uri, store_db):
    with _open(ferret_uri, store_db, batch_size=1000, flush_interval=60) as s:
        before = s.stats()
        # Ten write() calls, one bulk write: batches cross the boundary, not items.
        # The pauses give a writer that did not wait for the batch to fill time to show it.
        for start in range(0, 1000, 100):
            s.write(_docs(1000)[start:start + 100])
            time.sleep(0.05)
        assert s.flush(60)
        after = s.stats()
        assert s.db.processes.count_documents({}) == 1000
    assert after["round_trips"] - before["round_trips"] <= 2
    assert after["bulk_calls"] - before["bulk_calls"] == 1
    assert after["collections"] == {"processes": 1000}


@store
def test_round_trips_for_existing_documents_on_ferretdb(ferret_uri, store_db):
    with _open(ferret_uri, store_db, batch_size=1000) as s:
        s.write(_docs(1000))
        assert s.flush(60)
        before = s.stats()["round_trips"]
        s.write(_docs(1000, gen=2))
        assert s.flush(300)
        trips = s.stats()["round_trips"] - before
        assert s.db.processes.count_documents({"gen": 2}) == 1000
    # Documents this writer stored are replaced without an insert first, in
    # commands of at most bulk's statement limit on FerretDB 1.x: one round trip a
    # command, however the limit is set.
    limit = bulk._FERRETDB_UPDATE_STATEMENTS
    assert 1 < limit < 1000 and trips == -(-1000 // limit)


@store
def test_writes_wait_for_the_batch_size_or_the_interval(ferret_uri, store_db):
    with _open(ferret_uri, store_db, batch_size=1000, flush_interval=3.0) as s:
        s.write(_docs(10))
        time.sleep(0.5)
        assert s.stats()["written"] == 0, "written before the batch filled or the interval passed"
        deadline = time.monotonic() + 15
        while s.stats()["written"] < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.stats()["written"] == 10


@store
def test_flush_forces_a_partial_batch_and_close_flushes(ferret_uri, store_db):
    s = _open(ferret_uri, store_db, batch_size=100_000, flush_interval=3600)
    s.write(_docs(2000))
    assert s.flush(60)
    assert s.stats()["written"] == 2000
    s.write(_docs(50, collection="containers"))
    s.close()
    with pymongo.MongoClient(ferret_uri) as client:
        assert client[store_db].containers.count_documents({}) == 50
    with pytest.raises(RuntimeError):
        s.write(_docs(1))


@store
def test_indexes_are_created_at_start(ferret_uri, store_db):
    """An index for every filter the command line uses, its sort after an equality."""
    with _open(ferret_uri, store_db) as s:
        names = {coll: {tuple(ix["key"].items()) for ix in s.db[coll].list_indexes()}
                 for coll in ("processes", "files", "containers", "runs")}
    assert {tuple(keys) for keys in INDEXES["files"]} <= names["files"]
    assert {(("run", 1), ("start", 1)), (("container", 1), ("start", 1)), (("start", 1),),
            (("exit_time", 1),)} <= names["processes"]
    assert {(("run", 1), ("opened", 1)), (("container", 1), ("opened", 1)),
            (("pid", 1), ("opened", 1)), (("path", 1),), (("host_path", 1),),
            (("opened", 1),), (("closed", 1),)} <= names["files"]
    assert {(("host", 1),), (("id", 1),), (("name", 1),)} <= names["containers"]
    assert {(("host", 1), ("started", 1)), (("started", 1),)} <= names["runs"]


@store
def test_a_document_bson_cannot_hold_is_refused_alone(ferret_uri, store_db):
    with _open(ferret_uri, store_db) as s:
        s.write(_docs(20) + [("processes", {"_id": "bad", "argv": object()})])
        assert s.flush(30)
        assert s.db.processes.count_documents({}) == 20
        stats = s.stats()
    assert stats["rejected"] == 1 and "'bad'" in stats["last_error"]


# -- a slow or absent database ---------------------------------------------------------------

@store
def test_write_never_waits_for_a_stalled_database(tmp_path, store_db):
    with EmbeddedFerret(tmp_path) as ferret, _open(ferret.uri, store_db, batch_size=100) as s:
        s.write(_docs(100))
        assert s.flush(30)
        batches = [_docs(5000, gen=3)[start:start + 500] for start in range(0, 5000, 500)]
        times = []

        def tracker():
            for batch in batches:
                began = time.monotonic()
                s.write(batch)
                times.append(time.monotonic() - began)

        os.kill(ferret.pid, signal.SIGSTOP)
        try:
            # In a thread, so that a write() that waits fails the test instead of hanging it.
            thread = threading.Thread(target=tracker, daemon=True)
            thread.start()
            thread.join(10)
            assert len(times) == len(batches), "write() waited for the stalled database"
            assert not s.flush(1.0)
            assert s.stats()["queued"] > 0
        finally:
            os.kill(ferret.pid, signal.SIGCONT)
        assert max(times) < 0.5, f"write() took {max(times):.2f} s with the database stalled"
        assert s.flush(300)
        assert s.db.processes.count_documents({"gen": 3}) == 5000


@store
def test_what_waits_for_a_stalled_database_waits_encoded_unless_the_stream_is_dense(
        tmp_path, store_db):
    """Past max(4 * batch_size, 10,000) unencoded mutations write() encodes them
    itself (compact BSON, then the journal) when the stream is calm; while the
    recorder says it is dense, they wait as they are and the live thread pays
    nothing."""
    with EmbeddedFerret(tmp_path) as ferret, _open(ferret.uri, store_db, batch_size=100,
                                                   hold_calm=60.0) as s:
        s.write(_docs(10))
        assert s.flush(30)
        os.kill(ferret.pid, signal.SIGSTOP)
        try:
            calm, dense = _docs(12_000, "files"), _docs(12_000, "containers")
            for start in range(0, 12_000, 500):
                s.write(calm[start:start + 500])
            waiting = s.stats()["inbox"]
            assert waiting < 10_000
            s.write([], dense=True)  # dense: held for hold_calm
            for start in range(0, 12_000, 500):
                s.write(dense[start:start + 500])
            assert s.stats()["inbox"] == waiting + 12_000
        finally:
            os.kill(ferret.pid, signal.SIGCONT)
        assert s.flush(300)
        assert s.db.files.count_documents({}) == s.db.containers.count_documents({}) == 12_000
        assert s.stats()["unaccounted"] == 0


@store
def test_a_database_that_goes_away_loses_nothing(tmp_path, store_db):
    first = EmbeddedFerret(tmp_path).start()
    s = _open(first.uri, store_db, timeout=0.3)
    try:
        s.write(_docs(10))
        assert s.flush(30)
        first.stop()
        s.write(_docs(500, gen=2))
        assert not s.flush(2.0)
        stats = s.stats()
        assert stats["queued"] == 500 and stats["errors"] >= 1
        assert stats["last_error"] and "\n" not in stats["last_error"]
        with EmbeddedFerret(tmp_path):
            assert s.flush(60)
            assert s.db.processes.count_documents({"gen": 2}) == 500
            s.close()
    finally:
        first.stop()


@store
def test_close_gives_up_with_one_line_when_the_database_is_gone(tmp_path, store_db):
    ferret = EmbeddedFerret(tmp_path).start()
    s = _open(ferret.uri, store_db, timeout=0.3, stall_timeout=1.0)
    ferret.stop()
    s.write(_docs(7))
    with pytest.raises(StoreError) as caught:
        s.close()
    message = str(caught.value)
    assert message.startswith("7 document writes were not saved") and "\n" not in message


# -- the live stream first ---------------------------------------------------------------------

class _Storm:
    """The recorder during a storm: the receiver's batches full, again and again,
    read by the recorder's own gauge, each batch handed on as dense as it says."""

    def __init__(self, store):
        self.store = store
        self.gauge = _Gauge(slots=64)
        self.calms = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.calms.is_set():
            self.gauge.received(64)
            self.store.write([], dense=self.gauge.dense)
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        while not self.store.stats()["held"]["times"]:   # 16 full batches in a row
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.calms.set()
        self.thread.join()
        self.calmed_at = time.monotonic()


@store
def test_a_storm_holds_the_database_back_until_the_stream_calms(ferret_uri, store_db):
    with _open(ferret_uri, store_db, flush_interval=0.05, hold_calm=2.0) as s:
        with _Storm(s) as storm:
            s.write(_docs(3000))
            time.sleep(0.5)     # ten flush intervals, three batches' worth waiting
            held = s.stats()
            assert s.db.processes.count_documents({}) == 0
        assert held["inbox"] == 3000 and held["bulk_calls"] == 0
        assert held["held"]["times"] == 1
        # Still held while the calm has lasted less than hold_calm.
        time.sleep(max(0.0, storm.calmed_at + 1.5 - time.monotonic()))
        assert s.stats()["bulk_calls"] == 0
        deadline = time.monotonic() + 60
        while s.stats()["written"] < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = s.stats()
        assert s.db.processes.count_documents({}) == 3000
    assert stats["held"]["times"] == 1 and stats["held"]["seconds"] >= 2.0
    assert stats["unaccounted"] == 0


@store
def test_flush_and_close_do_not_wait_for_the_calm(ferret_uri, store_db):
    with _open(ferret_uri, store_db, hold_calm=3600) as s:
        s.write(_docs(50), dense=True)
        assert s.flush(60)
        assert s.db.processes.count_documents({}) == 50
        s.write(_docs(20, collection="containers"), dense=True)
    with pymongo.MongoClient(ferret_uri) as client:
        assert client[store_db].containers.count_documents({}) == 20


@store
def test_held_past_its_bound_the_inbox_goes_to_the_journal_in_order(ferret_uri, store_db, tmp_path):
    with _open(ferret_uri, store_db, max_queued=500, hold_calm=3600,
               journal_dir=tmp_path / "journal") as s:
        s.write([], dense=True)
        for gen in (1, 2):
            for start in range(0, 2000, 100):
                s.write(_docs(2000, gen=gen)[start:start + 100])
        deadline = time.monotonic() + 30
        while s.stats()["inbox"] >= 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = s.stats()
        # Memory bounded, nothing sent: the oldest went to the journal, encoded.
        assert stats["inbox"] < 500 and stats["bulk_calls"] == 0
        assert stats["held"]["forced"] == stats["journal"]["appended_mutations"] >= 4000 - 500
        assert s.flush(120)
        # The journal's part first, then memory: the last version of each wins.
        assert s.db.processes.count_documents({"gen": 2}) == 2000
        assert s.stats()["unaccounted"] == 0


# -- the embedded server -------------------------------------------------------------------------

@store
def test_a_second_command_reuses_the_running_ferretdb(tmp_path):
    with EmbeddedFerret(tmp_path) as first:
        assert read_endpoint(tmp_path) == {"pid": first.pid, "port": None,
                                           "socket": str(first.socket_path)}
        with connect_or_start(tmp_path) as second:
            assert (second.pid, second.uri, second.owned) == (first.pid, first.uri, False)
            with pymongo.MongoClient(second.uri) as client:
                client.godo.runs.insert_one({"_id": "r1"})
        # The second left it running, and the first sees what it wrote.
        with pymongo.MongoClient(first.uri) as client:
            assert client.godo.runs.find_one({"_id": "r1"}) == {"_id": "r1"}
        with pytest.raises(StoreError, match="already serves"):
            EmbeddedFerret(tmp_path).start()


@store
def test_a_server_whose_godo_died_is_reused_not_doubled_and_stopped_by_its_last_user(tmp_path):
    # A godo that starts FerretDB and is then SIGKILLed, leaving its server running.
    code = ("import sys, time; from godo.store.ferret import EmbeddedFerret; "
            "f = EmbeddedFerret(sys.argv[1]).start(); print(f.pid, flush=True); time.sleep(600)")
    godo = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    orphan = int(godo.stdout.readline())
    godo.kill()
    godo.wait()
    godo.stdout.close()
    try:
        with connect_or_start(tmp_path) as ferret:
            assert (ferret.pid, ferret.owned) == (orphan, False)
        # Its last user stopped it: a dead godo's server lives no longer than that.
        deadline = time.monotonic() + 15
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(orphan)
        assert read_endpoint(tmp_path) is None
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


@store
def test_ferretdb_is_stopped_on_exit(tmp_path):
    with EmbeddedFerret(tmp_path) as ferret:
        pid = ferret.pid
        assert _alive(pid)
        assert oct((tmp_path / "ferretdb").stat().st_mode & 0o777) == "0o700"
    assert not _alive(pid)
    assert read_endpoint(tmp_path) is None
    # The directory is free again: the next start owns it.
    with connect_or_start(tmp_path) as again:
        assert again.owned and again.pid != pid


@store
def test_open_store_embedded_keeps_data_across_restarts(tmp_path, monkeypatch):
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    with open_store(None, tmp_path) as s:
        (pid,) = s.server_pids
        s.write(_docs(25))
    assert not _alive(pid)
    with database(None, tmp_path) as db:
        assert db.processes.count_documents({}) == 25


@store
def test_open_store_takes_the_uri_from_the_environment(ferret_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("GODO_MONGO_URI", ferret_uri)
    with open_store(None, tmp_path) as s:
        assert s.uri == ferret_uri and s.server_pids == ()
    assert not (tmp_path / "ferretdb").exists()


@store
def test_a_busy_port_is_a_one_line_error_with_the_log(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(StoreError) as caught:
            EmbeddedFerret(tmp_path, port=sock.getsockname()[1]).start()
    assert "address already in use" in str(caught.value) and "\n" not in str(caught.value)
