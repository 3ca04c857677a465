"""The spill journal belongs to the database its batches were written for, not to
the spelling of a URI: against a real FerretDB reached two ways (its Unix socket
and a TCP port, as two front-ends of one store are), a journal left through one
is drained through the other; a journal directory of godo's earlier naming (the
URI's host list) is still drained; another database's journal is left alone."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pymongo
import pytest

from godo.run.replay import replay
from godo.store.ferret import EmbeddedFerret
from godo.store.opening import open_store
from support.faults import _env
from support.genlog import FIRST_CHILD, write_log

GODO = [sys.executable, "-m", "godo"]


@pytest.fixture
def two_ways(tmp_path, ferret_uri):
    """One FerretDB, and two URIs of it: its socket's and its TCP port's."""
    with EmbeddedFerret(tmp_path / "db", port=0) as ferret:
        yield ferret, ferret.uri, f"mongodb://127.0.0.1:{ferret.port}/"


def _in(uri: str, db: str) -> str:
    base, _, options = uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


def _stored(uri: str, db: str) -> int:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return (client[db].files.count_documents({}) +
                client[db].processes.count_documents({"pid": {"$gte": FIRST_CHILD}}))


def _left_in_journal(ferret, uri: str, data, db: str, log) -> None:
    """A replay whose every document goes to the journal: the server is stopped."""
    try:
        with open_store(uri, data, database=db, spill_after=0.2) as store:
            os.kill(ferret.pid, signal.SIGSTOP)
            replay(str(log), store)
    finally:
        os.kill(ferret.pid, signal.SIGCONT)
    assert list((data / "journal").glob("*/*.seg")), "the test wants a journal left"


def _segments(data) -> list:
    return sorted((data / "journal").glob("*/*.seg"))


def test_a_journal_left_through_one_uri_is_drained_through_another(two_ways, tmp_path):
    ferret, socket_uri, tcp_uri = two_ways
    data = tmp_path / "data"
    first = write_log(tmp_path / "a.log", 30, 20, pad=500)
    second = write_log(tmp_path / "b.log", 5, 4, first=1000)
    _left_in_journal(ferret, _in(socket_uri, "one"), data, "one", tmp_path / "a.log")
    done = subprocess.run(GODO + ["replay", "--mongo", _in(tcp_uri, "one"), str(tmp_path / "b.log")],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = first["files"] + first["processes"] - 1 + second["files"] + second["processes"] - 1
    assert _stored(tcp_uri, "one") == expected, "the first replay's documents came from the journal"
    assert _segments(data) == []


def test_another_databases_journal_is_left_for_it(two_ways, tmp_path):
    ferret, socket_uri, tcp_uri = two_ways
    data = tmp_path / "data"
    first = write_log(tmp_path / "a.log", 30, 20, pad=500)
    write_log(tmp_path / "b.log", 5, 4, first=1000)
    _left_in_journal(ferret, _in(socket_uri, "mine"), data, "mine", tmp_path / "a.log")
    left = _segments(data)
    done = subprocess.run(GODO + ["replay", "--mongo", _in(tcp_uri, "other"), str(tmp_path / "b.log")],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _segments(data) == left and _stored(tcp_uri, "mine") == 0
    # godo writing to that database again drains it, through either URI.
    with open_store(_in(tcp_uri, "mine"), data, database="mine"):
        pass
    assert _segments(data) == [] and _stored(tcp_uri, "mine") == first["files"] + first["processes"] - 1


def test_a_journal_of_the_old_naming_is_drained(two_ways, tmp_path):
    """godo named a journal's directory from the URI's hosts and the database; one
    left so (by an older godo) goes in at the next start with that URI."""
    ferret, socket_uri, tcp_uri = two_ways
    data = tmp_path / "data"
    first = write_log(tmp_path / "a.log", 30, 20, pad=500)
    _left_in_journal(ferret, _in(tcp_uri, "old"), data, "old", tmp_path / "a.log")
    (current,) = {p.parent for p in _segments(data)}
    old_name = hashlib.sha256(f"127.0.0.1:{ferret.port}/old".encode()).hexdigest()[:16]
    current.rename(current.with_name(old_name))
    with open_store(_in(tcp_uri, "old"), data, database="old"):
        pass
    assert _segments(data) == [] and _stored(tcp_uri, "old") == first["files"] + first["processes"] - 1
