"""What `godo export` writes a document as: MongoDB Extended JSON, or an event
shaped after the Elastic Common Schema.

- `jsonl`: Extended JSON v2, relaxed (what `mongoexport` writes and `mongoimport`
  reads): dates as `{"$date": "…Z"}`, ObjectIds as `{"$oid": …}`, bytes as
  `$binary`, numbers as plain JSON numbers, so an import gives dates as dates.
  orjson writes the document; only what is not plain JSON reaches the hook.
- `ecs`: one event per document, ECS field names (`@timestamp`, `event.*`,
  `process.*`, `file.*`, `container.*`, `host.name`); what ECS has no field for
  is kept under `godo.*` by its own name.
"""

from __future__ import annotations

import posixpath
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

# ECS keyword fields godo stores as numbers: ids are strings in ECS.
_USERS = (("euid", "user"), ("uid", "real_user"), ("suid", "saved_user"),
          ("egid", "group"), ("gid", "real_group"), ("sgid", "saved_group"))


def ecs_event(collection: str, doc: dict, containers: dict[str, dict]) -> dict:
    """The document as one ECS event. `containers`: id -> its document (name,
    runtime), for the container.* of a process or a file."""
    doc = dict(doc)
    event = {"id": doc.pop("_id", None), "dataset": f"godo.{collection}"}
    out: dict = {"@timestamp": None, "event": event}
    if collection == "processes":
        _process(doc, out, event)
    elif collection == "files":
        _file(doc, out, event)
    elif collection == "containers":
        out["@timestamp"] = doc.get("first_seen")
        event.update(kind="state", category=["host"], type=["info"], action="container",
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
        known = containers.get(cid) or {}
        out["container"] = _drop_none({"id": cid, "name": known.get("name"),
                                       "runtime": known.get("runtime")})
    host = doc.pop("host", None)
    if host:
        out["host"] = {"name": host}
    out["event"] = _drop_none(event)
    out["godo"] = _drop_none(doc)
    return out


def _process(doc: dict, out: dict, event: dict) -> None:
    start, end = doc.pop("start", None), doc.pop("exit_time", None)
    status = doc.get("status")
    out["@timestamp"] = start or end
    event.update(kind="event", category=["process"],
                 type=["start", "end"] if status in ("exited", "killed", "gone") else ["start"],
                 action=f"process-{status}" if status else None, start=start, end=end)
    argv = doc.pop("argv", None)
    process = {"pid": doc.pop("pid", None), "entity_id": event["id"],
               "name": doc.pop("comm", None), "executable": doc.pop("exe", None),
               "args": argv, "args_count": len(argv) if argv is not None else None,
               "command_line": " ".join(argv) if argv else None,
               "working_directory": doc.pop("cwd", None), "start": start, "end": end,
               "exit_code": doc.pop("exit_code", None),
               "parent": _drop_none({"pid": doc.pop("ppid", None),
                                     "entity_id": doc.pop("parent", None)}) or None}
    for field, ecs in _USERS:
        value = doc.pop(field, None)
        if value is not None:
            process[ecs] = {"id": str(value)}
    out["process"] = _drop_none(process)


def _file(doc: dict, out: dict, event: dict) -> None:
    opened, closed = doc.pop("opened", None), doc.pop("closed", None)
    out["@timestamp"] = opened
    kinds = ["access"]
    if doc.get("created"):
        kinds.append("creation")
    if doc.get("writes") or doc.get("truncated"):
        kinds.append("change")
    event.update(kind="event", category=["file"], type=kinds,
                 action="file-written" if doc.get("writes") else "file-opened",
                 start=opened, end=closed)
    path = doc.pop("path", None)
    if path:
        out["file"] = {"path": path, "name": posixpath.basename(path),
                       "directory": posixpath.dirname(path)}
    out["process"] = _drop_none({"pid": doc.pop("pid", None), "entity_id": doc.pop("process", None),
                                 "name": doc.pop("comm", None),
                                 "executable": doc.pop("exe", None)})


def _run_outcome(status: str | None) -> str | None:
    return {"finished": "success", "interrupted": "failure", "failed": "failure"}.get(status or "")


def _drop_none(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def as_ecs(collection: str, doc: dict, containers: dict[str, dict]) -> bytes:
    from .settings import encode_other
    return orjson.dumps(ecs_event(collection, doc, containers), default=encode_other,
                        option=JSON_OPTIONS)
