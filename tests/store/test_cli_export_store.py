"""Listings cut by --limit, and `godo export` as MongoDB Extended JSON (through a
real mongoimport into FerretDB) and as Elastic Common Schema events, against the
real store: the golden container log replayed into FerretDB."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import bson
import pymongo
import pytest
from bson import json_util

from godo.cli import main
from support.cli import _json_lines, _run
from support.paths import DATA


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


@pytest.fixture
def replayed(env, ferret_uri, store_db):
    """The URI of a database holding the golden container log's replay."""
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, "--scope", "containers",
                 str(DATA / "container.log")]) == 0
    return uri


def _godo(*args, uri):
    return _run(*args, "--mongo", uri, env={**os.environ, "COLUMNS": "200"})


def test_limit_cuts_a_listing_and_says_so_on_stderr(replayed):
    every = _json_lines(_godo("files", "--json", "--runtime", uri=replayed).stdout)
    assert len(every) > 3
    first = _godo("files", "--json", "--runtime", "--limit", "3", uri=replayed)
    assert _json_lines(first.stdout) == every[:3]
    assert first.stderr == "godo: showing the first 3 files; more match (raise --limit)\n"
    table = _godo("files", "--runtime", "--limit", "2", uri=replayed)
    assert len(table.stdout.splitlines()) - 1 - table.stdout.count("↳") == 2, table.stdout
    assert "raise --limit" in table.stderr
    whole = _godo("files", "--json", "--runtime", "--limit", str(len(every)), uri=replayed)
    assert _json_lines(whole.stdout) == every and whole.stderr == ""

    processes = _json_lines(_godo("tree", "--json", "--runtime", uri=replayed).stdout)
    cut = _godo("tree", "--json", "--runtime", "--limit", "4", uri=replayed)
    starts = sorted(p["start"] for p in processes)
    assert [p["start"] for p in _json_lines(cut.stdout)] == starts[:4]
    assert cut.stderr == "godo: showing the first 4 processes; more match (raise --limit)\n"
    one = _godo("containers", "--json", "--limit", "1", uri=replayed)
    assert len(_json_lines(one.stdout)) == 1 and one.stderr == ""


def _mongoimport() -> str | None:
    configured = os.environ.get("GODO_MONGOIMPORT")
    if configured:
        return configured
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    built = cache / "godo" / "mongoimport-100.18.0" / "mongoimport"
    return str(built) if os.access(built, os.X_OK) else None


def _dates(doc) -> list:
    """Every datetime in a document, nested ones too."""
    if isinstance(doc, dict):
        return [d for value in doc.values() for d in _dates(value)]
    if isinstance(doc, list):
        return [d for value in doc for d in _dates(value)]
    return [doc] if isinstance(doc, datetime) else []


def test_export_jsonl_is_extended_json_that_bson_reads_back_equal(replayed, store_db):
    for name in ("processes", "files", "containers", "runs"):
        out = _godo("export", "--collection", name, uri=replayed)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        with pymongo.MongoClient(replayed) as client:
            stored = {doc["_id"]: doc for doc in client[store_db][name].find()}
        assert len(lines) == len(stored) > 0
        for line in lines:
            doc = json_util.loads(line)
            assert bson.decode(bson.encode(doc)) == stored[doc["_id"]]
        assert '"$date":"' in out.stdout
    dated = [json_util.loads(line) for line in _godo("export", "--collection", "processes",
                                                      uri=replayed).stdout.splitlines()]
    assert dated and all(isinstance(d["start"], datetime) for d in dated)


def test_export_jsonl_round_trips_through_mongoimport(replayed, ferret_uri, store_db):
    tool = _mongoimport()
    if tool is None:
        pytest.skip("no mongoimport (scripts/build-mongoimport.sh builds one)")
    exported = _godo("export", "--collection", "files", uri=replayed)
    assert exported.returncode == 0, exported.stderr
    target = f"{store_db}_imported"
    imported = subprocess.run([tool, "--uri", _uri(ferret_uri, target), "--collection", "x"],
                              input=exported.stdout, capture_output=True, text=True, timeout=120)
    client = pymongo.MongoClient(ferret_uri)
    try:
        assert imported.returncode == 0, imported.stderr
        back = {doc["_id"]: doc for doc in client[target].x.find()}
        original = {doc["_id"]: doc for doc in client[store_db].files.find()}
        assert back == original
        opened = [doc["opened"] for doc in back.values()]
        assert opened and all(isinstance(stamp, datetime) for stamp in opened)
        assert sum(len(_dates(doc)) for doc in back.values()) > len(back)
    finally:
        client.drop_database(target)
        client.close()


def test_export_ecs_events_carry_ecs_fields(replayed):
    out = _godo("export", "--format", "ecs", uri=replayed)
    assert out.returncode == 0, out.stderr
    events = _json_lines(out.stdout)
    by_set: dict[str, list[dict]] = {}
    for event in events:
        by_set.setdefault(event["event"]["dataset"], []).append(event)
    assert set(by_set) == {"godo.processes", "godo.files", "godo.containers", "godo.runs",
                           "godo.fs_ops"}   # the rename and the unlink a process made
    for event in events:
        assert event["@timestamp"].endswith("Z") and event["host"]["name"]
        assert event["event"]["kind"] in ("event", "state") and event["event"]["id"]
    exec_ = next(e for e in by_set["godo.processes"] if e["process"].get("args"))
    process = exec_["process"]
    assert exec_["event"]["category"] == ["process"] and "start" in exec_["event"]["type"]
    assert process["entity_id"] == exec_["event"]["id"] and isinstance(process["pid"], int)
    assert process["args_count"] == len(process["args"])
    assert process["command_line"] == " ".join(process["args"])
    assert process["executable"].startswith("/") and process["name"]
    assert isinstance(process["parent"]["pid"], int) and process["real_user"]["id"].isdigit()
    assert "working_directory" in process and "pid" not in exec_["godo"]
    ended = [e for e in by_set["godo.processes"] if "end" in e["event"]["type"]]
    assert ended and all("end" in e["process"] for e in ended)
    assert any(e["process"].get("exit_code") == 0 for e in ended)
    in_box = [e for e in by_set["godo.processes"] if "container" in e]
    assert in_box and all(len(e["container"]["id"]) == 64 for e in in_box)
    assert {e["container"].get("runtime") for e in in_box} <= {"containerd", "docker", "podman",
                                                            "kubernetes", None}
    named = [f for f in by_set["godo.files"] if "file" in f]   # a path the log named
    assert len(named) > len(by_set["godo.files"]) / 2
    for file in by_set["godo.files"]:
        assert file["event"]["category"] == ["file"] and "access" in file["event"]["type"]
        assert isinstance(file["process"]["pid"], int) and file["process"]["entity_id"]
    for file in named:
        path = file["file"]["path"]
        assert path == (file["file"]["directory"].rstrip("/") + "/" + file["file"]["name"]
                        if file["file"]["directory"] != "/" else "/" + file["file"]["name"])
    written = [f for f in by_set["godo.files"] if f["godo"]["writes"]]
    assert written and all("change" in f["event"]["type"] for f in written)
    (container,) = by_set["godo.containers"]
    assert len(container["container"]["id"]) == 64 and container["event"]["kind"] == "state"
