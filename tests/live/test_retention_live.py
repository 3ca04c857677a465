"""Retention in a real recording: `[store] keep` in the config, or `record --keep`,
removes the runs that ended longer ago when godo starts recording."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pymongo import MongoClient

from godo.cli import main
from support.cli import _config_file
from support.paths import DATA


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


def test_keep_prunes_older_runs_when_a_recording_starts(live_audit, env, ferret_uri, store_db,
                                                        tmp_path, capsys):
    uri = _uri(ferret_uri, store_db)
    for log in ("container.log", "dirfd.log"):
        assert main(["replay", "--mongo", uri, str(DATA / log)]) == 0
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db = client.get_default_database()
        old, recent = [r["_id"] for r in db.runs.find(sort=[("started", 1)])]
        db.runs.update_one({"_id": old}, {"$set": {"ended": datetime.now(timezone.utc) - timedelta(days=40)}})
        db.runs.update_one({"_id": recent}, {"$set": {"ended": datetime.now(timezone.utc) - timedelta(days=2)}})
        capsys.readouterr()
        config = _config_file(tmp_path, '[store]\nkeep = "30d"\n')
        assert main(["record", "--config", str(config), "--mongo", uri, "--", "true"]) == 0
        assert "godo: retention: removed 1 runs: 11 processes" in capsys.readouterr().err
        assert db.runs.find_one({"_id": old}) is None and db.processes.count_documents({"run": old}) == 0
        assert db.runs.find_one({"_id": recent}) and db.runs.count_documents({}) == 2
        # The flag wins over the config: with a day, the replay that ended two days ago
        # goes; the recording made above ended seconds ago and stays.
        assert main(["record", "--config", str(config), "--keep", "1d", "--mongo", uri, "--", "true"]) == 0
        assert "godo: retention: removed 1 runs:" in capsys.readouterr().err
        assert db.runs.find_one({"_id": recent}) is None and db.runs.count_documents({}) == 2
