"""The store's parts that need no server: the recorder's pressure gauge, URIs and
their credentials, FerretDB binaries that are missing or die at start, the null
store, and the writer's backlog, encoding and hold for the live stream. The rest,
against the real FerretDB, is in tests/store/test_store.py."""

from __future__ import annotations

import pytest

from godo.errors import StoreError
from godo.run.live import _Gauge
from godo.store.backlog import Backlog as _Backlog
from godo.store.base import NullStore
from godo.store.client import redact
from godo.store.uri import uri_parts
from godo.store.ferret import EmbeddedFerret, find_binary
from godo.store.writer import MongoStore
from support.servers import _free_port


# -- the live stream first ---------------------------------------------------------------------

def test_full_batches_in_a_row_are_pressure_a_burst_is_not():
    gauge = _Gauge(slots=64, full_batches=16, backlog=1024)
    dense = []
    for _ in range(5):          # a process starting: a few full batches
        gauge.received(64)
        dense.append(gauge.dense)
    gauge.received(3)
    dense.append(gauge.dense)
    assert not any(dense)
    dense = []
    for _ in range(20):         # a storm: full batches without end
        gauge.received(64)
        dense.append(gauge.dense)
    assert dense == [False] * 15 + [True] * 5
    gauge.received(3)
    gauge.queued(1023)
    assert not gauge.dense
    gauge.queued(65536)         # the kernel holds records for godo: its buffer is full
    assert gauge.dense
    gauge.queued(0)
    assert not gauge.dense


# -- connecting -------------------------------------------------------------------------------

def test_an_unreachable_uri_is_one_line_without_credentials():
    uri = f"mongodb://godo:hunter2secret@127.0.0.1:{_free_port()}/?authSource=admin"
    with pytest.raises(StoreError) as caught:
        MongoStore(uri, timeout=0.3).start()
    message = str(caught.value)
    assert "\n" not in message and "hunter2secret" not in message and "godo:" not in message
    assert message.startswith("cannot reach the database at mongodb://***:***@127.0.0.1:")
    assert "Connection refused" in message


@pytest.mark.parametrize("uri", ["mongodb://us:er:hunter2@secret@host", "http://godo:hunter2@host",
                                 "mongodb://host:port/?tlsCertificateKeyFilePassword=hunter2"])
def test_an_invalid_uri_is_one_line_without_credentials(uri):
    with pytest.raises(StoreError) as caught:
        MongoStore(uri, timeout=0.3).start()
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message


def test_a_server_error_is_one_line_its_cause_whole():
    """FerretDB's PostgreSQL errors name their cause last, past 300 characters."""
    from pymongo.errors import OperationFailure

    from godo.store.client import REASON_CHARS, reason
    cause = 'ERROR: relation "_ferretdb_database_metadata" already exists (SQLSTATE 42P07)'
    text = reason(OperationFailure("wrap: " * 80 + cause + "\n\x1b[2J", 1,
                                   {"errmsg": "full reply"}), "mongodb://u:pw@h/")
    assert text.endswith(cause + " \\x1b[2J") and "\n" not in text and "\x1b" not in text
    huge = reason(OperationFailure("x" * 100_000 + " " + cause))
    assert len(huge) == REASON_CHARS and huge.endswith(cause) and " ... " in huge
    assert reason(OperationFailure("logging in as u:pw failed"), "mongodb://u:pw@h/") == \
        "logging in as *** failed"


@pytest.mark.parametrize("uri, shown", [
    ("mongodb://u:p@h1:1,h2:2/db?replicaSet=r", "mongodb://***:***@h1:1,h2:2/db?replicaSet=r"),
    ("mongodb://u@h/", "mongodb://***@h/"),
    ("mongodb+srv://u:p%40ss@cluster.example/", "mongodb+srv://***:***@cluster.example/"),
    ("mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:t&w=1",
     "mongodb://h/?authMechanismProperties=***&w=1"),
    ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
])
def test_redact(uri, shown):
    assert redact(uri) == shown


@pytest.mark.parametrize("uri, hosts, database, secrets", [
    ("mongodb://u:p%40ss@h1:1,h2:2/db%20x?replicaSet=r", ["h1:1", "h2:2"], "db x",
     {"u:p%40ss", "p%40ss", "p@ss"}),
    ("mongodb://h/?appname=a/b", ["h"], "", set()),
    ("mongodb://us:er/x@h", ["h"], "", {"us:er/x", "er/x"}),     # a bare "/" in a password
    ("mongodb://%2Ftmp%2Fm.sock/godo", ["%2Ftmp%2Fm.sock"], "godo", set()),
    ("mongodb+srv://cluster.example", ["cluster.example"], "", set()),
])
def test_uri_parts_cut_as_pymongo_cuts(uri, hosts, database, secrets):
    """The one reading of a URI's text that the redaction, the error text, the
    database name, the journal and the local servers all use."""
    parts = uri_parts(uri)
    assert (parts.host_list, parts.database, parts.secrets) == (hosts, database, secrets)


# -- the embedded server -------------------------------------------------------------------------

def test_a_missing_binary_is_one_line_naming_the_setup_script(tmp_path, monkeypatch):
    monkeypatch.delenv("GODO_FERRETDB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StoreError) as caught:
        EmbeddedFerret(tmp_path).start()
    assert "godo store setup" in str(caught.value) and "\n" not in str(caught.value)
    monkeypatch.setenv("GODO_FERRETDB", str(tmp_path / "nope"))
    with pytest.raises(StoreError, match="GODO_FERRETDB"):
        find_binary()


def test_a_binary_that_dies_at_start_is_one_line_with_its_panic(tmp_path):
    # What `go install ...ferretdb@v1.24.2` alone produces: a panic at start.
    (tmp_path / "bin").mkdir()
    binary = tmp_path / "bin" / "ferretdb"
    binary.write_text("#!/bin/sh\necho 'panic: Invalid build/version/version.txt file content.'\n"
                      "echo\necho 'goroutine 1 [running]:'\nexit 2\n")
    binary.chmod(0o755)
    with pytest.raises(StoreError) as caught:
        EmbeddedFerret(tmp_path, binary=str(binary)).start()
    assert str(caught.value) == ("FerretDB exited at start (status 2): "
                                 "panic: Invalid build/version/version.txt file content.")


# -- without a server ---------------------------------------------------------------------------------

def test_null_store_counts_and_checks():
    s = NullStore(host="h")
    doc = {"_id": 1}
    s.write([("runs", doc), ("files", {"_id": 2})])
    assert doc["host"] == "h"
    assert s.stats()["collections"] == {"runs": 1, "files": 1}
    with pytest.raises(ValueError, match="without _id"):
        s.write([("files", {"path": "/x"})])


def test_backlog_hands_out_chunks_across_batches_in_order():
    backlog = _Backlog(limit=5)
    backlog.append([1, 2, 3], 0.0)
    backlog.append([4, 5, 6, 7], 1.0)
    assert backlog.peek(5) == [1, 2, 3, 4, 5]
    backlog.ack(2)
    assert (len(backlog), backlog.oldest(), backlog.peek(3)) == (5, 0.0, [3, 4, 5])
    backlog.ack(2)
    assert (backlog.oldest(), backlog.peek(10)) == (1.0, [5, 6, 7])
    backlog.ack(3)
    assert len(backlog) == 0 and backlog.peak == 7 and backlog.over_limit == 1


def test_encoding_keeps_each_document_once_and_refuses_what_bson_cannot_hold():
    import bson

    from godo.store.encode import encode_batch
    entries, refused = encode_batch([("files", {"_id": "a", "n": 1}), ("files", {"_id": "b", "v": {1, 2}}),
                                     ("runs", {"_id": "c", "big": "x" * (16 * 1024 * 1024)})])
    assert [(name, _id) for name, _id, _key, _raw in entries] == [("files", "a")]
    assert bson.decode(entries[0][3]) == {"_id": "a", "n": 1}
    assert len(refused) == 2 and refused[0].startswith("files 'b': ")
    assert refused[1].startswith("runs 'c': ") and "over the 16 MiB document limit" in refused[1]


def test_a_hold_lasts_until_calm_after_the_last_dense_batch_and_counts_its_seconds():
    from godo.store.hold import LiveHold
    hold = LiveHold(calm=0.5)
    assert not hold.on(0.0) and hold.seconds(0.0) == 0.0
    hold.dense(10.0)
    hold.dense(10.3)             # the same storm: the hold is extended, not counted again
    assert hold.on(10.7) and not hold.on(10.8) and hold.times == 1
    assert hold.seconds(10.5) == pytest.approx(0.5)
    hold.dense(20.0)             # a second storm, after the first hold ended at 10.8
    assert hold.times == 2 and hold.seconds(20.2) == pytest.approx(0.8 + 0.2)
