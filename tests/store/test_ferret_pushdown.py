"""godo's build of FerretDB pushes top-level equalities, a one-field sort and the
limit down into SQLite (godo/data/ferretdb/). What it answers must be what MongoDB
would: the same documents, in the same order, cut at the same place. Each query
here is checked against the answer computed in Python from the documents."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pymongo
import pytest
from bson.int64 import Int64

T0 = datetime(2026, 12, 1)


@pytest.fixture(scope="module")
def coll(ferret_uri):
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    db = client["test_pushdown"]
    db.drop_collection("docs")
    coll = db.docs
    # The shapes godo filters and sorts on: string and integer equality, dates to
    # sort by, compound indexes (equality, then the sort) built before the data.
    coll.create_index([("run", 1), ("opened", 1)])
    coll.create_index([("pid", 1), ("opened", 1)])
    rng = random.Random(7)
    docs = []
    for i in range(600):
        doc = {"_id": f"d{i:04}", "run": rng.choice(["r1", "r2", "r3"]),
               "pid": rng.choice([1, 22, 333, 4444]), "opened": T0 + timedelta(seconds=rng.randrange(10_000)),
               "writes": rng.randrange(3)}
        if i % 50 == 0:
            doc.pop("opened")            # sorts first ascending, last descending
        if i % 7 == 0:
            doc["pid"] = Int64(doc["pid"])  # an int64 equals the int32 of the same value
        docs.append(doc)
    coll.insert_many(docs)
    yield coll, docs
    client.drop_database("test_pushdown")
    client.close()


def _expected(docs, match, key=None, descending=False, limit=0):
    found = [d for d in docs if match(d)]
    if key:
        # MongoDB's order: a missing field as null, before every date; ties by nothing.
        found.sort(key=lambda d: (key in d, d.get(key) or T0), reverse=descending)
    return found[:limit] if limit else found


def _keys(docs, key):
    return [(d.get(key), d["_id"]) for d in docs]


@pytest.mark.parametrize("filter_, match", [
    ({"run": "r2"}, lambda d: d["run"] == "r2"),
    ({"pid": 333}, lambda d: d["pid"] == 333),
    ({"run": "r1", "pid": 22}, lambda d: d["run"] == "r1" and d["pid"] == 22),
    ({"run": "r3", "writes": {"$gt": 0}}, lambda d: d["run"] == "r3" and d["writes"] > 0),
    # The time window godo asks for: still open, or closed since T; opened before U.
    ({"$or": [{"writes": 0}, {"writes": {"$gte": 2}}], "opened": {"$lte": T0 + timedelta(seconds=8000)}},
     lambda d: d["writes"] != 1 and "opened" in d and d["opened"] <= T0 + timedelta(seconds=8000)),
    ({"run": "nope"}, lambda d: False),
    ({"writes": {"$gt": 0}}, lambda d: d["writes"] > 0),
    ({"run": "r1", "writes": {"$gte": 1, "$lt": 2}}, lambda d: d["run"] == "r1" and d["writes"] == 1),
    ({"pid": {"$lte": 22.5}}, lambda d: d["pid"] <= 22),
    ({"opened": {"$ne": None}}, lambda d: "opened" in d),
    ({"opened": {"$gte": T0 + timedelta(seconds=5000)}},
     lambda d: "opened" in d and d["opened"] >= T0 + timedelta(seconds=5000)),
    ({"run": "r2", "opened": {"$lt": T0 + timedelta(seconds=300)}},
     lambda d: d["run"] == "r2" and "opened" in d and d["opened"] < T0 + timedelta(seconds=300)),
    ({"$or": [{"opened": None}, {"opened": {"$gte": T0 + timedelta(seconds=9000)}}]},
     lambda d: "opened" not in d or d["opened"] >= T0 + timedelta(seconds=9000)),
    ({"run": "r1", "$or": [{"pid": 1}, {"writes": {"$gt": 1}}]},
     lambda d: d["run"] == "r1" and (d["pid"] == 1 or d["writes"] > 1)),
    ({"_id": {"$gte": "d0100", "$lt": "d0110"}}, lambda d: "d0100" <= d["_id"] < "d0110"),
    ({"run": {"$gt": "r1"}}, lambda d: d["run"] > "r1"),
])
def test_equality_and_ranges_find_every_match(coll, filter_, match):
    coll, docs = coll
    got = sorted(d["_id"] for d in coll.find(filter_, {"_id": 1}))
    assert got == sorted(d["_id"] for d in docs if match(d))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("filter_, match", [
    ({}, lambda d: True),
    ({"run": "r1"}, lambda d: d["run"] == "r1"),
    ({"pid": 4444}, lambda d: d["pid"] == 4444),
    ({"run": "r3", "writes": {"$gt": 0}}, lambda d: d["run"] == "r3" and d["writes"] > 0),
    # The time window godo asks for: still open, or closed since T; opened before U.
    ({"$or": [{"writes": 0}, {"writes": {"$gte": 2}}], "opened": {"$lte": T0 + timedelta(seconds=8000)}},
     lambda d: d["writes"] != 1 and "opened" in d and d["opened"] <= T0 + timedelta(seconds=8000)),
    # Not all pushed down: sorted and cut by FerretDB's handler, as before.
    ({"run": "r2", "writes": {"$gte": 1}}, lambda d: d["run"] == "r2" and d["writes"] >= 1),
])
def test_sort_and_limit_cut_where_mongodb_would(coll, filter_, match, descending):
    coll, docs = coll
    direction = pymongo.DESCENDING if descending else pymongo.ASCENDING
    for limit in (1, 7, 100, 0):
        got = list(coll.find(filter_).sort("opened", direction).limit(limit))
        want = _expected(docs, match, "opened", descending, limit)
        # Equal sort keys may come in any order: compare the keys, then the sets.
        assert [d.get("opened") for d in got] == [d.get("opened") for d in want]
        assert len(got) == len(want)
        if limit == 0:
            assert sorted(d["_id"] for d in got) == sorted(d["_id"] for d in want)


def test_skip_is_left_to_the_handler(coll):
    coll, docs = coll
    got = [d.get("opened") for d in coll.find({"run": "r1"}).sort("opened", 1).skip(5).limit(5)]
    want = [d.get("opened") for d in _expected(docs, lambda d: d["run"] == "r1", "opened")[5:10]]
    assert got == want


def test_ne_a_boolean_matches_false_null_and_missing(ferret_uri):
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["test_pushdown_ne"].docs
        coll.insert_many([{"_id": "t", "runtime": True, "run": "r", "opened": T0},
                          {"_id": "f", "runtime": False, "run": "r", "opened": T0 + timedelta(1)},
                          {"_id": "n", "runtime": None, "run": "r", "opened": T0 + timedelta(2)},
                          {"_id": "m", "run": "r", "opened": T0 + timedelta(3)}])
        workload = {"run": "r", "runtime": {"$ne": True}}
        assert [d["_id"] for d in coll.find(workload).sort("opened", 1)] == ["f", "n", "m"]
        assert [d["_id"] for d in coll.find(workload).sort("opened", -1).limit(2)] == ["m", "n"]
        assert [d["_id"] for d in coll.find({"runtime": True})] == ["t"]
        assert sorted(d["_id"] for d in coll.find({"runtime": {"$ne": False}})) == ["m", "n", "t"]
    finally:
        client.drop_database("test_pushdown_ne")
        client.close()


_PATHS = ["/a/build/file12.o", "/a/build/file120.o", "/b/build/file12.c", "/a/b*ld/x.o",
          "/a/b?ld/x.o", "/a/[x]/y", "/a/x/y", "/line\nbreak.o", "/ünï/cödé.o", "/a/build/f.O",
          "/a/build/file1.o", "/r/a]b", "/r/a^b", None]


@pytest.mark.parametrize("glob", ["*/build/file12*.o", "*.o", "/a/b?ld/*", "*/b[*]ld/*",
                                  "*/[xy]/*", "*[!o]", "/a/build/file1[0-9]*", "*ünï*",
                                  "*a]b", "*a^b", "/*/*/*/*", "/a/build/f.[oO]"])
def test_a_glob_regex_matches_what_it_matches_in_python(ferret_uri, glob):
    """A glob's terms (godo's `files --path`: its regex, pushed down as SQLite's
    GLOB, and its literal start as a range) find what the regex finds: the same
    documents, sorted and cut alike."""
    import re

    from godo.store.queries import glob_regex, path_terms
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["test_pushdown_glob"].docs
        coll.drop()
        coll.create_index([("run", 1), ("opened", 1)])
        coll.insert_many([{"_id": f"p{i}", "run": "r", "path": p, "opened": T0 + timedelta(seconds=i)}
                          for i, p in enumerate(_PATHS)])
        pattern = glob_regex(glob)
        want = [f"p{i}" for i, p in enumerate(_PATHS) if p is not None and re.search(pattern, p)]
        terms = {"run": "r", **path_terms(glob)}
        assert [d["_id"] for d in coll.find(terms).sort("opened", 1)] == want
        assert [d["_id"] for d in coll.find(terms).sort("opened", 1).limit(1)] == want[:1]
    finally:
        client.drop_database("test_pushdown_glob")
        client.close()


_NAMES = ["a5", "ad", "a-", "-", "b", "c", "x^y", "a.b"]


@pytest.mark.parametrize("pattern", [r"^a\d$", r"^[a\-c]$", r"^x\^y$", r"^a\.b$", r"^[^\-a]$"])
def test_a_regex_a_backend_cannot_say_finds_what_python_finds(ferret_uri, pattern):
    """A `$regex` of a glob's shape but for a class escape (`\\d`) or an escaped `-`
    in a set (a range in GLOB), beside escapes the backends can say: a backend's
    pattern must not find fewer documents than the regex (the handler only filters
    what comes back), so the first two are left to the handler."""
    import re

    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["test_pushdown_regex"].docs
        coll.drop()
        coll.insert_many([{"_id": f"n{i}", "name": n} for i, n in enumerate(_NAMES)])
        want = [f"n{i}" for i, n in enumerate(_NAMES) if re.search(pattern, n, re.ASCII)]
        assert want, "a pattern that matches nothing tests nothing"
        assert [d["_id"] for d in coll.find({"name": {"$regex": pattern}}).sort("_id", 1)] == want
    finally:
        client.drop_database("test_pushdown_regex")
        client.close()
