"""Replay: an audit.log (RAW or ENRICHED, plain or gzip) through the pipeline."""

from __future__ import annotations

import os

from ..errors import GodoError
from ..hotpath import Pipeline
from ..paths import boot_id, is_host_name
from ..source.logfile import LogSource
from ..tracker import Scope, Tracker
from .gc_pace import RareFullCollections
from .report import RunReport, finish_run, interrupt_run, new_run


class Untracked:
    """In the tracker's place when nothing would keep what it makes (`replay
    --jsonl` with no store: the cooked events are the output): it counts the
    activities it is handed, and that is all."""

    live = False

    def __init__(self):
        self.counts = {"activities": 0}
        self.last_ts = None

    def process(self, activities: list, *, dense: bool = False) -> None:
        self.counts["activities"] += len(activities)

    def record_run(self, document: dict) -> None:
        pass

    def finish(self, now: float) -> None:
        pass


def replay(log: str | LogSource, store, *, scope: Scope = Scope("host"), on_activities=None,
           progress=None, track: bool = True, host: str | None = None) -> RunReport:
    """Read an audit.log (RAW or ENRICHED, plain or gzip; a path, or a LogSource
    already open: a FIFO or /dev/stdin can be opened only once) through the pipeline.
    `on_activities(batch)` sees each batch of activities as the tracker gets it;
    `progress(bytes, records)` is told after each chunk; `track` False: no
    documents (see Untracked). The run and its documents name `host`, else the
    node auditd named on the log's first line, else this machine. A log that is
    not empty and in which nothing parses as a record raises GodoError once the
    run is written."""
    source = log if isinstance(log, LogSource) else LogSource(log)
    path = source.path
    report = new_run("replay", scope, [path], host=host or _node(source))
    tracker = (Tracker(store, host=report.host, boot_id=boot_id(), scope=scope, run=report.run_id)
               if track else Untracked())
    pipeline = Pipeline()
    name = os.path.basename(path)
    tracker.record_run(report.document())
    read_error = None
    size = 0
    try:
        with RareFullCollections():
            for chunk in source.chunks():
                size += len(chunk)
                activities = pipeline.feed_log(chunk, name)
                if activities and on_activities is not None:
                    on_activities(activities)
                tracker.process(activities)
                if progress is not None:
                    progress(len(chunk), pipeline.records)
    except GodoError as exc:
        # A file cut short (a truncated gzip) or unreadable part way: what was read
        # is kept and recorded, and the error is reported once the run is written.
        read_error = exc
    except BaseException as exc:  # Ctrl-C, SIGTERM, a failure: the run says so
        interrupt_run(report, pipeline, tracker, store, exc)
        raise
    failure = read_error
    if failure is None and size and not pipeline.records:
        # The last line is held until the flush (it may be cut short): a log of one
        # line with no newline after it is read only now.
        late = pipeline.flush()
        if late and on_activities is not None:
            on_activities(late)
        tracker.process(late)
    if failure is None and size and not pipeline.records:
        malformed = pipeline.malformed
        failure = GodoError(f"nothing in {name} parsed as an audit record ("
                            + (f"{malformed} malformed line{'s' if malformed != 1 else ''})"
                               if malformed else "no records in it)"))
    # A replay that fails says so in its run document (`failed`), so that no view
    # takes it for the latest run.
    report.failed = None if failure is None else str(failure)
    finish_run(report, pipeline, tracker, store, on_activities=on_activities,
               errors=(str(read_error),) if read_error is not None else ())
    if failure is not None:
        raise failure
    return report


def _node(source: LogSource) -> str | None:
    """The host the log's first line names (auditd's `node=`), when it is a host
    name; a log that names something else is refused, not taken at its word."""
    node = source.node()
    if node is not None and not is_host_name(node):
        raise GodoError(f"{os.path.basename(source.path)} names its host {node[:64]!r}"
                        f"{'…' if len(node) > 64 else ''} (node= on its first line), which is not "
                        "a host name: give one with --host NAME")
    return node
