"""Many FerretDB front-ends on one PostgreSQL, as each host of a fleet starts its
own: each reads the catalog once, so one that read it before another made godo's
database, collections and indexes makes them again. That failed (`relation
"_ferretdb_database_metadata" already exists (SQLSTATE 42P07)`); godo's build
re-reads the catalog and goes on (godo/data/ferretdb/postgresql_godo_catalog.go)."""

from __future__ import annotations

import threading

import pymongo
import pytest
from pymongo import IndexModel

from godo.store.schema import INDEXES
from test_ferret_pushdown_pg import _needs


@pytest.fixture
def two_front_ends(pg_cluster):
    """Two front-ends on a fresh PostgreSQL (the fleet's test bed), started at once."""
    from godo.errors import StoreError
    from godo.store.ferret import find_binary
    try:
        find_binary()
    except StoreError as exc:
        _needs(f"FerretDB: {exc}")
    return [pg_cluster.front_end(), pg_cluster.front_end()]


def _godo_start(uri: str, host: str) -> None:
    """What godo does on start (its indexes, one a command: godo.store.writer),
    then a document of its own in every collection."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        db = client.godo
        for name, keys in INDEXES.items():
            for k in keys:
                db[name].create_indexes([IndexModel(k)])
        for name in INDEXES:
            db[name].insert_one({"_id": f"{host}-{name}", "host": host})


def _seen(uri: str) -> dict[str, list]:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        db = client.godo
        return {name: sorted(d["_id"] for d in db[name].find()) for name in INDEXES} | \
            {"indexes": {name: sorted(i["name"] for i in db[name].list_indexes()) for name in INDEXES}}


def test_a_front_end_that_read_the_catalog_early_goes_on(two_front_ends):
    a, b = two_front_ends
    # B reads the catalog while godo's database does not exist yet.
    with pymongo.MongoClient(b.uri) as client:
        assert "godo" not in client.list_database_names()
    _godo_start(a.uri, "h1")
    _godo_start(b.uri, "h2")
    seen = _seen(a.uri)
    assert seen == _seen(b.uri)
    for name, keys in INDEXES.items():
        assert seen[name] == [f"h1-{name}", f"h2-{name}"]
        assert len(seen["indexes"][name]) == len(keys) + 1   # and _id's


def test_front_ends_starting_godo_at_once_make_one_schema(two_front_ends):
    """Two godo starts at the same moment through two front-ends that both read the
    catalog empty: both succeed, and make one database, its collections and indexes."""
    for front in two_front_ends:
        with pymongo.MongoClient(front.uri) as client:
            client.list_database_names()
    errors = []
    go = threading.Barrier(2)

    def start(uri, host):
        try:
            go.wait()
            _godo_start(uri, host)
        except Exception as exc:  # noqa: BLE001 -- reported by the test below
            errors.append(f"{host}: {exc}")

    threads = [threading.Thread(target=start, args=(front.uri, f"h{i}"))
               for i, front in enumerate(two_front_ends)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seen = _seen(two_front_ends[0].uri)
    assert seen == _seen(two_front_ends[1].uri)
    for name, keys in INDEXES.items():
        assert seen[name] == [f"h0-{name}", f"h1-{name}"]
        assert len(seen["indexes"][name]) == len(keys) + 1
