"""What godo asks of the database (godo.store.bulk), against the real FerretDB: a
document is inserted the first time, a duplicate key on a retried insert counts as
written, and a document written again is replaced whole by `_id`."""

from __future__ import annotations

import bson
import pymongo
import pytest

from godo.store.bulk import BulkWriter
from godo.store.journal import key_of

store = pytest.mark.store


@pytest.fixture
def db(ferret_uri, store_db):
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    yield client[store_db]
    client.close()


def _writer(db, **options) -> BulkWriter:
    return BulkWriter(db, "mongodb://test", db.client.admin.command("buildInfo"), **options)


def _chunk(docs: list[tuple[str, dict]]) -> list:
    return [(name, doc["_id"], key_of(doc["_id"]), bson.encode(doc)) for name, doc in docs]


def _files(n: int, **fields) -> list:
    return [("files", {"_id": f"p:{i}", "path": f"/f{i}", "writes": 1, **fields}) for i in range(n)]


@store
def test_a_retried_insert_batch_counts_as_written_and_leaves_one_document(db):
    # 250 documents: several of FerretDB's 100-document insert transactions.
    chunk = _chunk(_files(250))
    assert _writer(db).write_chunk(chunk) == ({"files": 250}, [])
    # The same batch again from a writer that never saw its answer (the answer was
    # lost, or godo crashed and replays its journal): no error, nothing doubled.
    retried = _writer(db)
    assert retried.write_chunk(chunk) == ({"files": 250}, [])
    assert retried.duplicates == 250
    assert db.files.count_documents({}) == 250
    assert db.files.find_one({"_id": "p:7"}, {"_id": 0}) == {"path": "/f7", "writes": 1}


@store
def test_a_retried_batch_holding_newer_versions_leaves_the_newest(db):
    _writer(db).write_chunk(_chunk(_files(10)))
    # Half the batch is there (an older version), half is new.
    again = _writer(db)
    written, rejected = again.write_chunk(_chunk(_files(20, writes=5)))
    assert (written, rejected) == ({"files": 20}, [])
    assert again.duplicates == 10
    assert db.files.count_documents({}) == 20
    assert db.files.count_documents({"writes": 5}) == 20


@store
def test_a_document_written_again_is_replaced_whole_without_an_insert(db):
    writer = _writer(db)
    writer.write_chunk(_chunk([("processes", {"_id": "h:1", "status": "running",
                                              "children": ["h:2"], "exit_code": None})]))
    calls = writer.calls
    writer.write_chunk(_chunk([("processes", {"_id": "h:1", "status": "exited", "exit_code": 3})]))
    # One call: the replace, no insert that fails first.
    assert writer.calls == calls + 1 and writer.duplicates == 0
    # Replaced, not merged: a field the new version lacks is gone.
    assert db.processes.find_one({"_id": "h:1"}) == {"_id": "h:1", "status": "exited", "exit_code": 3}


@store
def test_a_forgotten_document_written_again_is_still_replaced(db):
    writer = _writer(db, remember=5)
    writer.write_chunk(_chunk(_files(50)))
    written, rejected = writer.write_chunk(_chunk(_files(50, writes=9)))
    assert (written, rejected) == ({"files": 50}, [])
    # The 5 it remembered were replaced straight away; the other 45 by their duplicate key.
    assert writer.duplicates == 45
    assert db.files.count_documents({"writes": 9}) == 50
    assert db.files.count_documents({}) == 50


@store
def test_a_document_the_server_refuses_is_reported_and_the_rest_written(db):
    writer = _writer(db)
    docs = _files(3)
    # FerretDB and MongoDB refuse a field name that starts with `$`.
    docs[1] = ("files", {"_id": "p:1", "$bad": 1})
    written, rejected = writer.write_chunk(_chunk(docs))
    assert written == {"files": 2} and len(rejected) == 1 and "'p:1'" in rejected[0]
    assert sorted(d["_id"] for d in db.files.find()) == ["p:0", "p:2"]
