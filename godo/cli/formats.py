"""What `godo export` writes a document as: MongoDB Extended JSON, or an event
shaped after the Elastic Common Schema.

- `jsonl`: Extended JSON v2, relaxed (what `mongoexport` writes and `mongoimport`
  reads): dates as `{"$date": "…Z"}`, ObjectIds as `{"$oid": …}`, bytes as
  `$binary`, numbers as plain JSON numbers, so an import gives dates as dates.
  orjson writes the document; only what is not plain JSON reaches the hook.
- `ecs`: one event per document (and one per rename or unlink a process made),
  ECS field names (`@timestamp`, `ecs.version`, `event.*`, `process.*`, `user.*`,
  `file.*`, `container.*`, `host.*`); what ECS has no field for is kept under
  `godo.*` by its own name, with one type per name whatever the collection.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson

from .settings import JSON_OPTIONS

_EPOCH = datetime(1970, 1, 1)


def extended_json(value):
    """orjson's hook for Extended JSON v2 (relaxed): dates, and what bson knows."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        if 1970 <= value.year <= 9999:
            return {"$date": value.isoformat(timespec="milliseconds") + "Z"}
        # Relaxed Extended JSON writes dates outside 1970-9999 as milliseconds.
        millis = (value - _EPOCH) // _MILLISECOND
        return {"$date": {"$numberLong": str(millis)}}
    from bson import json_util
    return json_util.default(value, json_options=json_util.RELAXED_JSON_OPTIONS)


_MILLISECOND = datetime(1970, 1, 1, 0, 0, 0, 1000) - _EPOCH
EXTENDED_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def as_extended_json(doc: dict) -> bytes:
    return orjson.dumps(doc, default=extended_json, option=EXTENDED_OPTIONS)


# -- the Elastic Common Schema ------------------------------------------------------------

# The ECS release the events follow (tests/data/ecs_fields.json holds its field
# table for the fields godo writes, copied from that release's ecs_flat.yml).
ECS_VERSION = "9.4.0"

# godo's uid/gid fields as ECS names them (ECS ids are keywords: strings); the
# ENRICHED log's names for them are under the same keys in `names`.
_USERS = (("euid", "user"), ("uid", "real_user"), ("suid", "saved_user"),
          ("egid", "group"), ("gid", "real_group"), ("sgid", "saved_group"))
# What a process's fs_ops hold, as ECS file events.
_FS_ACTIONS = {"rename": ("file-renamed", "change"), "unlink": ("file-deleted", "deletion")}


@dataclass
class EcsContext:
    """What an event names from other documents, read once an export (containers,
    the runs' boot ids) or once a chunk of processes (their parents)."""

    containers: dict[str, dict] = field(default_factory=dict)   # id -> name, runtime
    boots: dict[str, str] = field(default_factory=dict)         # run -> boot id
    parents: dict[str, dict] = field(default_factory=dict)      # process id -> exe, argv, comm


def ecs_events(collection: str, doc: dict, context: EcsContext) -> list[dict]:
    """The document as ECS events: one, and for a process one more for each rename
    or unlink it made (godo keeps those in the process's `fs_ops`)."""
    doc = dict(doc)
    ops = doc.pop("fs_ops", None) if collection == "processes" else None
    event = ecs_event(collection, doc, context)
    return [event] + [_fs_op_event(event, i, op) for i, op in enumerate(ops or ())]


def ecs_event(collection: str, doc: dict, context: EcsContext) -> dict:
    """The document as one ECS event."""
    doc = dict(doc)
    event = {"id": doc.pop("_id", None), "dataset": f"godo.{collection}"}
    out: dict = {"@timestamp": None, "ecs": {"version": ECS_VERSION}, "event": event}
    if collection == "processes":
        _process(doc, out, event, context)
    elif collection == "files":
        _file(doc, out, event)
    elif collection == "containers":
        out["@timestamp"] = doc.get("first_seen")
        event.update(kind="state", category=["host"], type=["info"], action="container-seen",
                     start=doc.pop("first_seen", None), end=doc.pop("last_seen", None))
        out["container"] = _drop_none({"id": doc.pop("id", None), "name": doc.pop("name", None),
                                       "runtime": doc.pop("runtime", None)})
    else:  # runs: godo's own recording, a state of the host
        out["@timestamp"] = doc.get("started")
        event.update(kind="state", category=["host"], type=["info"], action="godo-run",
                     start=doc.pop("started", None), end=doc.pop("ended", None),
                     outcome=_run_outcome(doc.get("status")))
    cid = doc.pop("container", None)
    if cid and "container" not in out:
        known = context.containers.get(cid) or {}
        out["container"] = _drop_none({"id": cid, "name": known.get("name"),
                                       "runtime": known.get("runtime")})
    boot = doc.pop("boot_id", None) or context.boots.get(doc.get("run") or "")
    host = _drop_none({"name": doc.pop("host", None), "boot": {"id": boot} if boot else None})
    if host:
        out["host"] = host
    out["event"] = _drop_none(event)
    out["godo"] = _drop_none(doc)
    return out


def _process(doc: dict, out: dict, event: dict, context: EcsContext) -> None:
    start, end = doc.pop("start", None), doc.pop("exit_time", None)
    status = doc.get("status")
    out["@timestamp"] = start or end
    event.update(kind="event", category=["process"],
                 type=["start", "end"] if status in ("exited", "killed", "gone") else ["start"],
                 action=f"process-{status}" if status else None, start=start, end=end)
    argv = doc.pop("argv", None)
    parent_id = doc.pop("parent", None)
    parent = context.parents.get(parent_id) or {}
    parent_argv = parent.get("argv")
    process = {"pid": doc.pop("pid", None), "entity_id": event["id"],
               "name": doc.pop("comm", None), "executable": doc.pop("exe", None),
               **_args(argv), "working_directory": doc.pop("cwd", None),
               "start": start, "end": end, "exit_code": doc.pop("exit_code", None),
               "parent": _drop_none({"pid": doc.pop("ppid", None), "entity_id": parent_id,
                                     "name": parent.get("comm"),
                                     "executable": parent.get("exe"),
                                     **_args(parent_argv)}) or None}
    names = dict(doc.pop("names", None) or {})
    for key, ecs in _USERS:
        value, name = doc.pop(key, None), names.pop(key, None)
        if value is not None or name is not None:
            process[ecs] = _drop_none({"id": None if value is None else str(value), "name": name})
    if names:
        doc["names"] = names   # what ECS has no field for: the audit uid's name, the arch...
    if "user" in process:
        out["user"] = dict(process["user"])   # the effective user acts
    out["process"] = _drop_none(process)


def _args(argv: list | None) -> dict:
    if argv is None:
        return {}
    return {"args": argv, "args_count": len(argv), "command_line": " ".join(argv) or None}


def _file(doc: dict, out: dict, event: dict) -> None:
    opened, closed = doc.pop("opened", None), doc.pop("closed", None)
    out["@timestamp"] = opened
    kinds = ["access"]
    if doc.get("created"):
        kinds.append("creation")
    if doc.get("writes") or doc.get("truncated"):
        kinds.append("change")
    event.update(kind="event", category=["file"], type=kinds,
                 action="file-written" if doc.get("writes") else
                 "file-created" if doc.get("created") else "file-opened",
                 start=opened, end=closed)
    path = doc.pop("path", None)
    # open's mode argument is the new file's permissions, meaningful when it created
    # one; ECS writes a mode as octal text (godo.mode is a run's, a string).
    mode = doc.pop("mode", None)
    if path:
        out["file"] = _drop_none({**_path_fields(path),
                                  "mode": f"{mode:04o}" if mode is not None and doc.get("created") else None})
    out["process"] = _drop_none({"pid": doc.pop("pid", None), "entity_id": doc.pop("process", None),
                                 "name": doc.pop("comm", None),
                                 "executable": doc.pop("exe", None)})


def _fs_op_event(process_event: dict, index: int, op: dict) -> dict:
    """A rename or an unlink a process made, as a file event of its own: the
    process's fields, the file's path (a rename's new one; the old is godo.old_path)."""
    kind = op.get("op")
    action, change = _FS_ACTIONS.get(kind, (f"file-{kind}", "change"))
    path, new_path = op.get("path"), op.get("new_path")
    event = {"id": f"{process_event['event']['id']}:fs:{index}", "dataset": "godo.fs_ops",
             "kind": "event", "category": ["file"], "type": [change], "action": action,
             "start": op.get("time")}
    out = {"@timestamp": op.get("time"), "ecs": {"version": ECS_VERSION}, "event": event}
    shown = new_path if kind == "rename" else path
    if shown:
        out["file"] = _path_fields(shown)
    out["process"] = {key: process_event["process"][key] for key in
                      ("pid", "entity_id", "name", "executable") if key in process_event["process"]}
    for key in ("user", "container", "host"):
        if key in process_event:
            out[key] = process_event[key]
    run = process_event.get("godo", {}).get("run")
    out["godo"] = _drop_none({"run": run, "old_path": path if kind == "rename" else None,
                              "host_path": op.get("new_host_path") if kind == "rename"
                              else op.get("host_path"),
                              "old_host_path": op.get("host_path") if kind == "rename" else None})
    return out


def _path_fields(path: str) -> dict:
    return {"path": path, "name": posixpath.basename(path), "directory": posixpath.dirname(path)}


def _run_outcome(status: str | None) -> str | None:
    return {"finished": "success", "interrupted": "failure", "failed": "failure"}.get(status or "")


def _drop_none(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def as_ecs(collection: str, doc: dict, context: EcsContext) -> bytes:
    from .settings import encode_other
    return b"\n".join(orjson.dumps(event, default=encode_other, option=JSON_OPTIONS)
                      for event in ecs_events(collection, doc, context))
