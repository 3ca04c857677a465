"""godo's build of FerretDB pushes the same queries down into PostgreSQL as into
SQLite (godo/data/ferretdb/postgresql_godo_pushdown.go): every query shape of
test_ferret_pushdown.py runs here again against a FerretDB on a PostgreSQL of its
own, each checked against the answer computed in Python (the same documents, in
the same order, cut where the limit cuts). And the lookups that were scans on
PostgreSQL (by _id, on which updates and deletes find their document; a listing's
equality, sort and limit) are answered from the indexes."""

from __future__ import annotations

import os

import pymongo
import pytest

# The SQLite suite's queries and checks, collected here against PostgreSQL: its
# fixture `coll` builds on `ferret_uri`, which this module overrides.
from test_ferret_pushdown import (coll, test_a_glob_regex_matches_what_it_matches_in_python,  # noqa: F401
                                  test_a_regex_a_backend_cannot_say_finds_what_python_finds,
                                  test_equality_and_ranges_find_every_match,
                                  test_ne_a_boolean_matches_false_null_and_missing,
                                  test_skip_is_left_to_the_handler,
                                  test_sort_and_limit_cut_where_mongodb_would)

from support import pgcluster


def _needs(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("GODO_REQUIRE_STORE"):
        pytest.fail(f"GODO_REQUIRE_STORE is set but {reason}")
    pytest.skip(f"PostgreSQL store tests need {reason}")


@pytest.fixture(scope="module")
def cluster():
    """The fleet's test bed, for this module; every statement's plan in the
    primary's log (auto_explain, in the front-end's sessions): what PostgreSQL was
    asked, and how it read."""
    _needs(pgcluster.unavailable())
    with pgcluster.PgCluster(synchronous=False) as cluster:
        for setting in ("session_preload_libraries = 'auto_explain'",
                        "auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on"):
            cluster.primary.sql(f"ALTER DATABASE {pgcluster.DATABASE} SET {setting}")
        yield cluster


@pytest.fixture(scope="module")
def ferret_uri(cluster):
    """A FerretDB of godo's build on the PostgreSQL handler, for this module."""
    from godo.errors import StoreError
    from godo.store.ferret import find_binary
    try:
        find_binary()
    except StoreError as exc:
        _needs(f"FerretDB: {exc}")
    return cluster.front_end().uri


def _table(cluster, database: str, collection: str) -> str:
    return cluster.primary.sql(f"SELECT _jsonb->>'table' FROM {database}._ferretdb_database_metadata "
                         f"WHERE _jsonb->>'_id' = '{collection}'")


class _Plans:
    """The plans PostgreSQL logs (auto_explain) from here on."""

    def __init__(self, cluster):
        self.log = cluster.primary.log
        self.start = self.log.stat().st_size

    def text(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


def test_updates_and_deletes_by_id_read_the_id_index(cluster, ferret_uri):
    """A replace, an update and a delete by _id find their document through the _id
    index: PostgreSQL reads the table whole for none of them (it did for each)."""
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["test_pg_id"].docs
        coll.insert_many([{"_id": f"p{i}", "n": i} for i in range(2000)])
        table = _table(cluster, "test_pg_id", "docs")
        plans = _Plans(cluster)
        assert coll.replace_one({"_id": "p10"}, {"n": -10}).modified_count == 1
        assert coll.update_one({"_id": "p11"}, {"$set": {"n": -11}}).modified_count == 1
        assert coll.delete_one({"_id": "p12"}).deleted_count == 1
        assert coll.find_one({"_id": "p13"})["n"] == 13
        assert coll.update_one({"_id": "nope"}, {"$set": {"n": 0}}, upsert=True).upserted_id == "nope"
        logged = plans.text()
        # Each looked its document up, and updated or deleted it, by the _id index.
        assert logged.count(f"Index Scan using {table}__id_") >= 8
        assert f"Seq Scan on {table}" not in logged
        assert [d["n"] for d in coll.find({"_id": {"$in": ["p10", "p11", "p12", "p13"]}}).sort("_id", 1)] \
            == [-10, -11, 13]
        assert coll.count_documents({}) == 2000
    finally:
        client.drop_database("test_pg_id")
        client.close()


def test_a_listing_reads_its_index_in_order(cluster, ferret_uri):
    """godo's listing shape (an equality, a sort on a date, a limit) on godo's
    indexes, the pair (run, opened) and opened alone, with runs one after the other
    in time as they are recorded: the pair's index is walked in the sort's order,
    missing dates first, so no whole-table read and no sort; and the first
    documents are those MongoDB would give. (Told the equality, PostgreSQL walked
    the date's own index from the first run's on, taking runs for evenly spread.)"""
    from datetime import datetime, timedelta
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["test_pg_listing"].files
        coll.create_index([("run", 1), ("opened", 1)])
        coll.create_index([("opened", 1)])
        t0 = datetime(2026, 12, 1)
        # Run ids as long as godo's and documents as wide as its files: the size of
        # the pair's index and of the rows is what tips PostgreSQL's guess.
        runs = [f"bench-host:20261130T0{r}0000:0000000{r}" for r in range(4)]
        docs = [{"_id": i, "run": runs[i // 2000], "opened": t0 + timedelta(seconds=i), "pad": "x" * 1000}
                for i in range(8000)]
        for doc in docs[::500]:
            del doc["opened"]
        coll.insert_many(docs)
        table = _table(cluster, "test_pg_listing", "files")
        cluster.primary.sql(f"ANALYZE test_pg_listing.{table}")
        plans = _Plans(cluster)
        first = [d["_id"] for d in coll.find({"run": runs[3]}).sort("opened", 1).limit(5)]
        last = [d["_id"] for d in coll.find({"run": runs[3]}).sort("opened", -1).limit(5)]
        logged = plans.text()
        assert logged.count(f"Index Scan using {table}_run_") == 1
        assert logged.count(f"Index Scan Backward using {table}_run_") == 1
        assert f"Seq Scan on {table}" not in logged and "Sort Key" not in logged
        r3 = [d for d in docs if d["run"] == runs[3]]
        undated = {d["_id"] for d in r3 if "opened" not in d}
        dated = [d["_id"] for d in sorted((d for d in r3 if "opened" in d), key=lambda d: d["opened"])]
        assert len(undated) == 4
        assert set(first[:4]) == undated and first[4:] == dated[:1]
        assert last == dated[::-1][:5]
    finally:
        client.drop_database("test_pg_listing")
        client.close()
