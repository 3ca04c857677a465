"""`godo export --format ecs` against ECS's own field table: every field godo
writes outside `godo.*` is an ECS field (tests/data/ecs_fields.json, copied from
ECS's ecs_flat.yml) with a value of its type; one type per field across the
collections; an action for every activity godo keeps; ENRICHED names as users;
the parent's executable and argv, looked up a chunk at a time."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest
from pymongo import monitoring

from godo.cli import main
from godo.cli.formats import ECS_VERSION
from support.cli import _json_lines
from support.paths import DATA

TABLE = json.loads((DATA / "ecs_fields.json").read_text())
FIELDS = TABLE["fields"]
# ECS's field types -> the JSON values that carry them.
_JSON_TYPES = {
    **dict.fromkeys(("keyword", "constant_keyword", "wildcard", "match_only_text", "text", "ip",
                     "version", "date"), (str,)),
    **dict.fromkeys(("long", "integer", "short", "byte", "unsigned_long"), (int,)),
    **dict.fromkeys(("float", "double", "half_float", "scaled_float"), (int, float)),
    "boolean": (bool,), "object": (dict,), "flattened": (dict,),
}


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


class _Finds(monitoring.CommandListener):
    def __init__(self):
        self.finds: list[str] = []

    def started(self, event):
        if event.command_name == "find":
            self.finds.append(event.command["find"])

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def events(env, ferret_uri, store_db, tmp_path, capsys):
    """The container log, its SYSCALL records ENRICHED as auditd writes them
    (names of the ids), replayed and exported as ECS events; and the finds the
    export sent."""
    lines = []
    for line in (DATA / "container.log").read_bytes().splitlines():
        if line.startswith(b"type=SYSCALL"):
            line += (b'\x1dARCH=x86_64 SYSCALL=x AUID="alice" UID="root" GID="root" EUID="bob" '
                     b'SUID="root" FSUID="root" EGID="staff" SGID="root" FSGID="root"')
        lines.append(line + b"\n")
    log = tmp_path / "enriched.log"
    log.write_bytes(b"".join(lines))
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, "--scope", "containers", str(log)]) == 0
    capsys.readouterr()
    finds = _Finds()
    monitoring.register(finds)   # clients made from now on report to it
    try:
        assert main(["export", "--format", "ecs", "--mongo", uri]) == 0
    finally:
        # pymongo has no public way to unregister a global listener
        monitoring._LISTENERS.command_listeners.remove(finds)
    return _json_lines(capsys.readouterr().out), finds.finds


def _flat(event: dict, prefix: str = "") -> dict[str, object]:
    """Dotted field -> value; `godo.*` kept as godo's own names (one level)."""
    out = {}
    for key, value in event.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "godo.loss" and name != "godo.store" \
                and name != "godo.names" and (not prefix.startswith("godo") or name == "godo"):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def test_every_ecs_field_is_in_ecss_table_with_its_type(events):
    events, _finds = events
    assert TABLE["ecs_version"] == ECS_VERSION
    seen = set()
    for event in events:
        assert event["ecs"] == {"version": ECS_VERSION}
        for name, value in _flat(event).items():
            if name.startswith("godo."):
                continue
            seen.add(name)
            assert name in FIELDS, f"{name} is not an ECS {ECS_VERSION} field"
            spec = FIELDS[name]
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list):
                assert "array" in spec["normalize"], f"{name} is an array; ECS has it single"
            kinds = _JSON_TYPES[spec["type"]]
            # (a bool is an int to isinstance; ECS keeps them apart)
            assert all(isinstance(v, kinds) and (type(v) is not bool or bool in kinds)
                       for v in values), (name, spec["type"], value)
            if spec["type"] == "date":
                assert all(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values)
    # What the issue asks for is among them.
    assert {"ecs.version", "event.action", "user.name", "process.user.name",
            "process.parent.executable", "process.parent.args", "host.boot.id",
            "process.real_user.name", "process.group.name", "file.mode"} <= seen


def test_one_type_per_field_across_collections(events):
    events, _finds = events
    types: dict[str, set[str]] = {}
    for event in events:
        for name, value in _flat(event).items():
            if value is None:
                continue
            kind = type(value).__name__
            if isinstance(value, list):
                kind = "list" + "".join(sorted({f"[{type(v).__name__}]" for v in value}))
                if not value:
                    continue
            types.setdefault(name, set()).add("number" if kind in ("int", "float") else kind)
    mixed = {name: kinds for name, kinds in types.items() if len(kinds) > 1}
    assert not mixed
    assert types["godo.mode"] == {"str"}   # a run's mode; a file's is file.mode


def test_every_activity_kept_has_its_action_and_users_and_parents_are_named(events):
    events, _finds = events
    by_action: dict[str, list[dict]] = {}
    for event in events:
        by_action.setdefault(event["event"]["action"], []).append(event)
    assert {"process-exited", "file-opened", "file-written", "file-renamed", "file-deleted",
            "container-seen", "godo-run"} <= set(by_action)
    (renamed,) = by_action["file-renamed"]
    assert renamed["file"]["path"] == "/data/b.txt" and renamed["godo"]["old_path"] == "/data/a.txt"
    assert renamed["event"]["type"] == ["change"] and renamed["process"]["executable"]
    (deleted,) = by_action["file-deleted"]
    assert deleted["file"]["path"] == "/data/b.txt" and deleted["event"]["type"] == ["deletion"]
    assert len({e["event"]["id"] for e in events}) == len(events)
    processes = [e for e in events if e["event"]["dataset"] == "godo.processes"]
    execed = [e for e in processes if e["process"].get("args")]
    assert execed and all(e["user"] == {"id": "0", "name": "bob"} for e in execed)
    for event in execed:
        process = event["process"]
        assert process["user"]["name"] == "bob" and process["real_user"]["name"] == "root"
        assert process["group"]["name"] == "staff" and "auid" not in process
        assert event["godo"]["names"]["auid"] == "alice"
    with_parent = [e for e in processes if e["process"].get("parent", {}).get("executable")]
    assert with_parent, "a parent in the store gives its executable"
    by_id = {e["process"]["entity_id"]: e["process"] for e in processes}
    for event in with_parent:
        parent = by_id[event["process"]["parent"]["entity_id"]]
        assert event["process"]["parent"]["executable"] == parent["executable"]
        assert event["process"]["parent"].get("args") == parent.get("args")
    assert all(e["host"]["boot"]["id"] for e in events), "host.boot.id on every event"


def test_parents_are_looked_up_a_chunk_at_a_time_not_per_document(events):
    events, finds = events
    processes = sum(e["event"]["dataset"] == "godo.processes" for e in events)
    lookups = finds.count("processes") - 1   # the export's own read of them
    assert 1 <= lookups <= math.ceil(processes / 1000)
