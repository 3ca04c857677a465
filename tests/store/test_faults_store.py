"""Fault injection against the real store, without the kernel's audit: a database
that stalls (SIGSTOP) or goes away while the writer holds documents, a journal
that fills, the data dir's modes. Each test runs its own FerretDB (the `server`
fixture) and stops or kills it, leaving the session's alone."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from godo.errors import StoreError
from godo.store.opening import open_store
from godo.store.writer import MongoStore
from support.faults import _wait


store = pytest.mark.store


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


# -- credentials and file modes ---------------------------------------------------------------

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
