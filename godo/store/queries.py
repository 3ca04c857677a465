"""What the command line asks the database: runs and containers by the names
users give them, the selection a listing shows, paths by glob, container rows."""

from __future__ import annotations

import re

from ..errors import GodoError
from ..localtime import local_time


def run_id(db, given: str, host: str | None = None) -> str:
    """A run by its id, or by a unique start or end of it (the 8-hex tail); with
    `host`, among that host's runs alone."""
    mine = {} if host is None else {"host": host}
    if db.runs.find_one({"_id": given, **mine}, {"_id": 1}):
        return given
    matches = [r["_id"] for r in db.runs.find(mine, {"_id": 1})
               if r["_id"].startswith(given) or r["_id"].endswith(given)]
    if not matches:
        raise GodoError(f"no run {given} recorded" + ("" if host is None else f" on host {host}"))
    if len(matches) > 1:
        raise GodoError(f"run {given} is ambiguous ({len(matches)} runs match)")
    return matches[0]


NOTHING_YET = "nothing recorded yet: run `godo record -- CMD` first"


def latest_run(db, host: str | None = None) -> str | None:
    """The last live run, else the last replay (of `host`, when given); None before
    the first. A run that failed (a replay of a file with no records in it) is
    never the latest."""
    ok = {"status": {"$ne": "failed"}, **({} if host is None else {"host": host})}
    latest = db.runs.find_one({"mode": {"$ne": "replay"}, **ok}, sort=[("started", -1)]) \
        or db.runs.find_one(ok, sort=[("started", -1)])
    return None if latest is None else latest["_id"]


def processes_by_id(db, ids, fields) -> dict[str, dict]:
    """These processes' `fields`, by id, in one query: an `$or` of `_id` equalities,
    which godo's FerretDB build answers from the _id index (an `$in` it reads whole)."""
    ids = sorted(ids)
    if not ids:
        return {}
    return {doc["_id"]: doc for doc in db.processes.find(
        {"$or": [{"_id": pid} for pid in ids]}, dict.fromkeys(fields, 1))}


def runs(db, limit: int | None = None, host: str | None = None) -> list[dict]:
    """Every run (of `host`, when given), newest first (the runs collection is
    small: a document a run)."""
    found = db.runs.find({} if host is None else {"host": host}, sort=[("started", -1)])
    return list(found.limit(limit) if limit else found)


# The collections whose documents name their run in `run`, the runs' own last.
RUN_PARTS = ("processes", "files", "containers")


def delete_runs(db, ids: list[str]) -> dict[str, int]:
    """Remove these runs and every document of theirs; how many of each went.
    One delete a run and collection, by top-level equality: the shape godo's
    FerretDB build pushes down into SQLite (an `$in` it reads whole)."""
    counts = dict.fromkeys((*RUN_PARTS, "runs"), 0)
    for rid in ids:
        for name in RUN_PARTS:
            counts[name] += db[name].delete_many({"run": rid}).deleted_count
        # The run's own document last: a prune cut short leaves it, and is run again.
        counts["runs"] += db.runs.delete_many({"_id": rid}).deleted_count
    return counts


# Container runtimes' own processes and files (shims, runc, conmon) carry
# runtime: true; listings show the workload unless asked for them.
WORKLOAD = {"runtime": {"$ne": True}}


def container_id(db, given: str) -> str:
    """A container by its id, by its name, or by a unique start of its id. The
    containers collection answers (it is small); the processes' containers are
    read only when it does not (a container whose document never got written)."""
    known = set(db.containers.distinct("id"))
    match = _container_match(db, given, known)
    if match is None:
        known |= set(db.processes.distinct("container"))
        known.discard(None)
        match = _container_match(db, given, known)
    if not match:
        raise GodoError(f"no container {given} recorded (see godo containers)")
    if len(match) > 1:
        shown = ", ".join(c[:12] for c in match[:5]) + (", ..." if len(match) > 5 else "")
        raise GodoError(f"container {given} is ambiguous ({len(match)} match: {shown})")
    return match[0]


def _container_match(db, given: str, ids: set) -> list[str] | None:
    """The containers `given` names among `ids`; None when it names none."""
    if given in ids:
        return [given]
    named = sorted(db.containers.distinct("id", {"name": given}))
    return named or sorted(c for c in ids if c.startswith(given)) or None


def container_names(db, ids) -> dict[str, str]:
    """The name each of these containers was given, where it had one."""
    ids = list(ids)
    if not ids:
        return {}
    return {doc["id"]: doc["name"] for doc in db.containers.find(
        {"id": {"$in": ids}, "name": {"$ne": None}}, {"id": 1, "name": 1})}


def selection(db, *, host: str | None = None, run: str | None = None, latest: bool = False,
              container: str | None = None, since=None, until=None, start: str,
              end: str) -> tuple[list[dict] | None, str]:
    """Query terms for a host, a run (`latest`: the latest run), a container and a
    time window, every run when none is given, and a title saying what was
    selected. `start`/`end` name the fields that bound a document's life. No terms
    (None) when nothing was recorded yet: an empty answer, not an error."""
    terms, title = [], []
    if host is not None:
        known_host(db, host)
        terms.append({"host": host})
        title.append(f"host {host}")
    if latest:
        run = latest_run(db, host)
        if run is None:
            return None, NOTHING_YET
    if run:
        run = run_id(db, run, host)
        terms.append({"run": run})
        title.append(f"run {run}")
    if container:
        container = container_id(db, container)
        terms.append({"container": container})
        title.append(f"container {container}")
    if since is not None:
        terms.append({"$or": [{end: None}, {end: {"$gte": since}}]})
        title.append(f"since {local_time(since)}")
    if until is not None:
        terms.append({start: {"$lte": until}})
        title.append(f"until {local_time(until)}")
    if not terms or terms == [{"host": host}]:
        if host is None and db.runs.find_one({}, {"_id": 1}) is None:
            return None, NOTHING_YET
        title.append("every run")
    return terms, ", ".join(title)


def query(terms: list[dict]) -> dict:
    """The terms as one MongoDB query: one document while no field repeats (the
    shape a database can push down whole: the embedded FerretDB takes top-level
    fields only), else their `$and`."""
    merged: dict = {}
    for term in terms:
        if merged.keys() & term.keys():
            return {"$and": terms}
        merged.update(term)
    return merged


def path_terms(glob: str) -> dict:
    """Files whose path inside or on the host matches `glob`'s regex, and begins with
    its literal start: a range an index answers (godo's FerretDB pushes both down,
    the regex as SQLite's GLOB, so that the sort and the limit go down with them).
    The glob itself decides, with fnmatch: a regex dialect has its corners."""
    match = {"$regex": glob_regex(glob)}
    start = re.split(r"[*?\[]", glob, maxsplit=1)[0]
    if start:
        # Every string that begins with `start` sorts from it to just before the
        # string with its last character one higher.
        match = {"$gte": start, "$lt": start[:-1] + chr(ord(start[-1]) + 1), **match}
    return {"$or": [{"path": match}, {"host_path": match}]}


def glob_regex(glob: str) -> str:
    """A glob as an anchored regular expression that MongoDB's PCRE and FerretDB's
    Go regexp read alike: `*` any run of characters (`/` too), `?` one, `[...]` a set."""
    out, i = ["^"], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            close = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "]") else i + 1)
            if close < 0:
                out.append(r"\[")
            else:
                body = glob[i + 1:close]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                out.append("[" + ("^" if negate else "") +
                           "".join("\\" + ch if ch in "\\^]" else ch for ch in body) + "]")
                i = close
        else:
            out.append(re.escape(c) if not c.isalnum() and c not in "/_- " else c)
        i += 1
    out.append("$")
    return "".join(out)


# What a container row carries from its latest document.
_DESCRIPTION = ("name", "runtime", "namespace", "pod", "status", "exit_code", "signal")


def known_host(db, host: str) -> str:
    """`host`, when a run of it is recorded; else an error (as for a run or a
    container that is not there)."""
    if db.runs.find_one({"host": host}, {"_id": 1}) is None:
        raise GodoError(f"no host {host} recorded (see godo hosts)")
    return host


def host_summaries(db, seen=None) -> list[dict]:
    """One row a host that recorded a run: its runs, how many of them are running,
    when its first began, when it was last seen (its newest end, or the start of
    a run still running), and its newest run (id and status); the host last seen
    first. The runs collection alone answers (a document a run). `seen(run)`: the
    run as seen now (one left `running` by a godo that died is not)."""
    rows: dict[str, dict] = {}
    for run in db.runs.find({}, {"host": 1, "started": 1, "ended": 1, "status": 1, "pid": 1,
                                 "boot_id": 1}, sort=[("started", 1)]):
        run = seen(run) if seen is not None else run
        row = rows.setdefault(run.get("host") or "?", {
            "host": run.get("host") or "?", "runs": 0, "running": 0, "first_seen": None,
            "last_seen": None, "newest_run": None, "newest_status": None})
        running = run.get("status") == "running"
        row["runs"] += 1
        row["running"] += running
        row["first_seen"] = _min(row["first_seen"], run.get("started"))
        row["last_seen"] = _max(row["last_seen"], run.get("started") if running
                                else run.get("ended") or run.get("started"))
        row["newest_run"], row["newest_status"] = run["_id"], run.get("status")
    return sorted(rows.values(), key=lambda r: (r["running"] > 0, r["last_seen"] is not None,
                                                r["last_seen"] or 0), reverse=True)


def container_summaries(db, run: str | None = None, host: str | None = None) -> list[dict]:
    """One row per container: its latest document's name, runtime and outcome, with
    its workload's processes, files written and first/last activity added up over
    every run (of `host`, when given). The containers collection alone answers: the tracker writes one
    document per container and run with that run's counts (a container's processes
    and files, counted again here, were a scan of both collections: 27 s at a
    million files on FerretDB). `run`: that run's alone."""
    rows: dict[str, dict] = {}
    wanted = {**({} if run is None else {"run": run}), **({} if host is None else {"host": host})}
    for doc in db.containers.find(wanted, sort=[("last_seen", 1)]):
        row = rows.setdefault(doc["id"], {"id": doc["id"], "hosts": set(), "rootfs": None,
                                          "first_seen": None, "last_seen": None,
                                          "processes": 0, "files_written": 0,
                                          **dict.fromkeys(_DESCRIPTION)})
        row["hosts"].add(doc.get("host"))
        row["rootfs"] = row["rootfs"] or doc.get("rootfs")
        row["first_seen"] = _min(row["first_seen"], doc.get("first_seen"))
        row["last_seen"] = _max(row["last_seen"], doc.get("last_seen"))
        row["processes"] += doc.get("processes") or 0
        row["files_written"] += doc.get("files_written") or 0
        row.update({key: doc[key] for key in _DESCRIPTION if doc.get(key) is not None})
    for row in rows.values():
        row["hosts"] = sorted(h for h in row["hosts"] if h)
    return sorted(rows.values(), key=lambda r: (r["last_seen"] is not None, r["last_seen"] or 0),
                  reverse=True)


def _min(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(*values):
    present = [v for v in values if v is not None]
    return max(present) if present else None
