"""The fleet test bed itself (tests/support/pgcluster.py): a FerretDB front-end on
the replicated PostgreSQL writes through the primary, the standby holds each write
(synchronous replication), and after the primary is killed and the standby promoted
the same front-end writes on, through its multi-host URL alone."""

from __future__ import annotations

import time

import pymongo
from pymongo.errors import PyMongoError


def _insert_retrying(coll, doc, timeout=60.0):
    """A write after a failover: the front-end's first try may meet a connection
    the dead primary closed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return coll.insert_one(doc)
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_front_end_follows_a_promoted_standby(pg_cluster):
    with pg_cluster.front_end() as fe:
        client = pymongo.MongoClient(fe.uri, serverSelectionTimeoutMS=10_000)
        coll = client.bed.docs
        coll.insert_many([{"_id": i} for i in range(10)])
        # Synchronous: committed on the primary means flushed on the standby; a
        # hot standby answers reads, and its replay catches up at once.
        deadline = time.monotonic() + 10
        while pg_cluster.standby.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'bed'") != "1":
            assert time.monotonic() < deadline, "the standby never saw the schema"
            time.sleep(0.1)
        assert pg_cluster.writable() is pg_cluster.primary
        pg_cluster.kill_primary()
        pg_cluster.promote()
        assert pg_cluster.writable() is pg_cluster.standby
        _insert_retrying(coll, {"_id": 10})
        assert sorted(d["_id"] for d in coll.find()) == list(range(11))
        client.close()


def test_the_url_carries_no_password_unless_asked(pg_cluster):
    assert pg_cluster.password not in pg_cluster.url()
    assert pg_cluster.password in pg_cluster.url(password=True)
    assert pg_cluster.url().endswith("?target_session_attrs=read-write")
