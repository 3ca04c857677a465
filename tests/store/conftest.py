"""Store-tier fixtures: the replicated PostgreSQL of the fleet tests (see
tests/support/pgcluster.py), started for each test and torn down after it, even
when it fails."""

from __future__ import annotations

import os

import pytest

from support import pgcluster


@pytest.fixture
def pg_cluster():
    """A PostgreSQL 15 primary and a synchronous streaming hot standby on loopback, in
    temporary directories. Without PostgreSQL a skip, or a failure when
    GODO_REQUIRE_STORE is set (scripts/test.sh; scripts/setup.sh installs it)."""
    reason = pgcluster.unavailable()
    if reason:
        if os.environ.get("GODO_REQUIRE_STORE"):
            pytest.fail(f"GODO_REQUIRE_STORE is set but {reason}")
        pytest.skip(reason)
    with pgcluster.PgCluster() as cluster:
        yield cluster
