"""Replay: an audit.log (RAW or ENRICHED, plain or gzip) through the pipeline."""

from __future__ import annotations

import os

from ..errors import GodoError
from ..paths import is_host_name
from ..source.logfile import LogSource
from ..tracker import Scope
from .gc_pace import RareFullCollections
from .report import RunReport
from .wiring import Run


def replay(log: str | LogSource, store, *, scope: Scope = Scope("host"), on_activities=None,
           progress=None, track: bool = True, host: str | None = None) -> RunReport:
    """Read an audit.log (RAW or ENRICHED, plain or gzip; a path, or a LogSource
    already open: a FIFO or /dev/stdin can be opened only once) through the pipeline.
    `on_activities(batch)` sees each batch of activities as the tracker gets it;
    `progress(bytes, records)` is told after each chunk; `track` False: no
    documents (see wiring.Untracked). The run and its documents name `host`, else the
    node auditd named on the log's first line, else this machine. A log that is
    not empty and in which nothing parses as a record raises GodoError once the
    run is written."""
    source = log if isinstance(log, LogSource) else LogSource(log)
    path = source.path
    run = Run(store, "replay", scope, command=[path], host=host or _node(source), track=track,
              on_activities=on_activities)
    name = os.path.basename(path)
    run.record()
    read_error = None
    size = 0
    try:
        with RareFullCollections():
            for chunk in source.chunks():
                size += len(chunk)
                run.feed_log(chunk, name)
                if progress is not None:
                    progress(len(chunk), run.pipeline.records)
    except GodoError as exc:
        # A file cut short (a truncated gzip) or unreadable part way: what was read
        # is kept and recorded, and the error is reported once the run is written.
        read_error = exc
    except BaseException as exc:  # Ctrl-C, SIGTERM, a failure: the run says so
        run.interrupt(exc)
        raise
    failure = read_error
    if failure is None and size and not run.pipeline.records:
        # The last line is held until the flush (it may be cut short): a log of one
        # line with no newline after it is read only now.
        run.flush()
    if failure is None and size and not run.pipeline.records:
        malformed = run.pipeline.malformed
        failure = GodoError(f"nothing in {name} parsed as an audit record ("
                            + (f"{malformed} malformed line{'s' if malformed != 1 else ''})"
                               if malformed else "no records in it)"))
    # A replay that fails says so in its run document (`failed`), so that no view
    # takes it for the latest run.
    run.report.failed = None if failure is None else str(failure)
    run.finish(errors=(str(read_error),) if read_error is not None else ())
    if failure is not None:
        raise failure
    return run.report


def _node(source: LogSource) -> str | None:
    """The host the log's first line names (auditd's `node=`), when it is a host
    name; a log that names something else is refused, not taken at its word."""
    node = source.node()
    if node is not None and not is_host_name(node):
        raise GodoError(f"{os.path.basename(source.path)} names its host {node[:64]!r}"
                        f"{'…' if len(node) > 64 else ''} (node= on its first line), which is not "
                        "a host name: give one with --host NAME")
    return node
