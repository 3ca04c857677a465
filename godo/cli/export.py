"""`godo export`: documents as JSON lines, streamed: MongoDB Extended JSON
(`--format jsonl`, for mongoimport) or Elastic Common Schema events (`ecs`)."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from itertools import islice

from rich.console import Console

from ..errors import GodoError
from ..store.queries import NOTHING_YET, known_host, latest_run, processes_by_id, run_id
from ..store.schema import COLLECTIONS
from .formats import EcsContext, as_ecs, as_extended_json
from .output import nothing, shown
from .settings import database, on_terminal

_EXPORT_CHUNK = 1000


def cmd_export(args) -> int:
    names = [args.collection] if args.collection else list(COLLECTIONS)
    tagged = args.collection is None
    target = args.output or "stdout"
    with _output(args.output) as sink, database(args) as db:
        host = known_host(db, args.host) if args.host else None
        run = (run_id(db, args.run, host) if args.run else
               latest_run(db, host) if args.latest else None)
        if args.latest and run is None:   # an empty store: an empty answer
            return nothing(NOTHING_YET)
        # Every document names its host (a run its own): a run is of one host.
        queries = {name: ({"_id" if name == "runs" else "run": run} if run is not None else
                          {"host": host} if host is not None else {})
                   for name in names}
        show = on_terminal() and (args.output is not None or not sys.stdout.isatty())
        totals = {name: db[name].count_documents(queries[name]) for name in names} if show else {}
        context = _ecs_context(db) if args.format == "ecs" else None
        written = 0
        with _export_progress(show, totals) as advance:
            for name in names:
                found = db[name].find(queries[name], batch_size=_EXPORT_CHUNK)
                for chunk in iter(lambda: list(islice(found, _EXPORT_CHUNK)), []):
                    if context is not None:
                        if name == "processes":
                            context.parents = processes_by_id(
                                db, {d["parent"] for d in chunk if d.get("parent")},
                                ("exe", "argv", "comm"))
                        lines = [as_ecs(name, doc, context) for doc in chunk]
                    else:
                        lines = [as_extended_json({"_collection": name, **doc} if tagged else doc)
                                 for doc in chunk]
                    written += _flush_lines(sink, lines, advance, name, len(chunk))
        sink.flush()
    if show:
        print(f"godo: exported {written} documents to {shown(target)}", file=sys.stderr)
    return 0


@contextmanager
def _output(path: str | None):
    """Where the lines go, open for the block. A file is written as a temporary file
    beside it (0600) and renamed over it only once every line is in, so an export
    that fails (a run that does not exist, a full disk) leaves what was there
    whole. A path that is no regular file (/dev/full, a FIFO) is written in place.
    A write that fails is one line, whatever the sink."""
    if path is None:
        try:
            yield sys.stdout.buffer
        except OSError as exc:
            _drop_stdout()
            raise GodoError(f"cannot write to stdout: {exc.strerror or exc}") from None
        return
    try:
        regular = not os.path.exists(path) or stat.S_ISREG(os.stat(path).st_mode)
        if regular:
            directory, base = os.path.split(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
            out = os.fdopen(fd, "wb")
        else:
            tmp, out = None, open(path, "wb")
    except OSError as exc:
        raise GodoError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with out:
            yield out
        if tmp is not None:
            os.replace(tmp, path)
            tmp = None
    except OSError as exc:
        raise GodoError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _drop_stdout() -> None:
    """What stdout still buffers is lost with the failed write; the interpreter's
    flush at exit must not try again (a second error, not one line)."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


def _ecs_context(db) -> EcsContext:
    """What ECS events name from other documents: the containers' names and
    runtimes, and the runs' boot ids (both small: a document a container, a run)."""
    containers = {doc["id"]: doc for doc in db.containers.find(
        {}, {"_id": 0, "id": 1, "name": 1, "runtime": 1}, sort=[("last_seen", 1)])}
    boots = {doc["_id"]: doc["boot_id"] for doc in db.runs.find({}, {"boot_id": 1})
             if doc.get("boot_id")}
    return EcsContext(containers=containers, boots=boots)


def _flush_lines(sink, lines: list[bytes], advance, name: str, documents: int) -> int:
    """Write a chunk's lines; the documents it held (an ECS process may give more
    than one line)."""
    sink.write(b"\n".join(lines) + b"\n")
    if advance is not None:
        advance(name, documents)
    return documents


@contextmanager
def _export_progress(show: bool, totals: dict[str, int]):
    if not show:
        yield None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeElapsedColumn)
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TaskProgressColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        tasks = {name: bar.add_task(name, total=total) for name, total in totals.items()}
        yield lambda name, count: bar.update(tasks[name], advance=count)
