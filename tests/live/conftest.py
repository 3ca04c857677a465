"""What the live tests share: a private data directory and a database of the
test's own in the session's FerretDB."""

from __future__ import annotations

import pytest
from pymongo import MongoClient


@pytest.fixture
def godo_env(tmp_path, monkeypatch):
    """A private data dir, so state files and any embedded server stay in the test."""
    data = tmp_path / "data"
    monkeypatch.setenv("GODO_DATA_DIR", str(data))
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "220")
    return data


@pytest.fixture
def store_uri(ferret_uri, store_db):
    """The embedded FerretDB of the session, a database of this test's own."""
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{store_db}" + (f"?{options}" if options else "")


@pytest.fixture
def db(store_uri):
    client = MongoClient(store_uri, serverSelectionTimeoutMS=5000)
    yield client.get_default_database()
    client.close()
