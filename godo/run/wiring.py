"""A run wired once: the pipeline, the tracker, the store and the report, fed by a
source, finished or interrupted the one way. The live and replay drivers, the
tests' capture helper and the benchmarks each make a `Run` and feed it; what
differs between them is the source (a log's chunks, the kernel's frames)."""

from __future__ import annotations

import sys
import time

from ..hotpath import Pipeline
from ..paths import boot_id
from ..tracker import Scope, Tracker
from .report import RunReport, new_run, why_interrupted

_SETTLE = 5.0  # seconds the database may answer nothing before a run's end gives up waiting
_SETTLE_LONGEST = 30.0  # seconds a run's end waits at most before its document is written


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


class Run:
    """One run: `report` (what it saw, its `runs` document), `pipeline` (records
    to activities), `tracker` (activities to documents) and `store` (where they
    go). A source hands it batches (`feed_log`, `feed_frames`); `tick` lets time
    pass on a live run; `finish` or `interrupt` ends it.

    `mode`, `scope`, `command` and `host` name the run (see `new_run`); `live`
    runs keep wall-clock time and `checkpoint_interval`; `track` False puts
    `Untracked` in the tracker's place. `twin` (anything with a Pipeline and a
    Tracker: the tests' twin fixture; default: this module's, the compiled twins
    unless GODO_NO_EXTENSIONS) and `boot` (the boot id the documents name) are
    for tests and benchmarks. `on_activities(batch)` sees each batch of
    activities as the tracker gets it."""

    def __init__(self, store, mode: str, scope: Scope, *, command: list[str] | None = None,
                 host: str | None = None, live: bool = False, track: bool = True,
                 checkpoint_interval: float = 30.0, twin=None, boot: str | None = None,
                 on_activities=None) -> None:
        self.store = store
        self.report: RunReport = new_run(mode, scope, command, host=host)
        self.pipeline = (Pipeline if twin is None else twin.Pipeline)()
        if track:
            self.tracker = (Tracker if twin is None else twin.Tracker)(
                store, host=self.report.host, boot_id=boot or boot_id(), scope=scope,
                run=self.report.run_id, live=live, checkpoint_interval=checkpoint_interval)
        else:
            self.tracker = Untracked()
        self.on_activities = on_activities

    # -- feeding ----------------------------------------------------------------------

    def _apply(self, activities: list, dense: bool = False) -> None:
        """A batch the pipeline cooked: shown to `on_activities`, then tracked."""
        if activities and self.on_activities is not None:
            self.on_activities(activities)
        self.tracker.process(activities, dense=dense)

    def feed_log(self, chunk: bytes, name: str) -> list:
        """A chunk of an audit.log's lines (`name`, for errors) through the run."""
        activities = self.pipeline.feed_log(chunk, name)
        self._apply(activities)
        return activities

    def feed_frames(self, batch: bytes, now: float, dense: bool = False) -> None:
        """The receiver's netlink frames through the run; `dense`: the stream is
        under pressure (the store then holds its own work back)."""
        self._apply(self.pipeline.feed_frames(batch, now), dense)

    def tick(self, now: float, wall: float) -> None:
        """Time passing on a live run: events the kernel never ended are let go
        (`now` on the monotonic clock), and the tracker checkpoints (`wall`)."""
        self.tracker.process(self.pipeline.expire(now))
        self.tracker.tick(wall)

    def flush(self) -> None:
        """What the pipeline holds (events not yet ended, a last line with no
        newline after it) through the tracker now."""
        self._apply(self.pipeline.flush())

    def record(self) -> None:
        """The run's document written as it stands (a run says it started)."""
        self.tracker.record_run(self.report.document())

    # -- ending -----------------------------------------------------------------------

    def finish(self, *, errors: tuple[str, ...] = (), command=None) -> RunReport:
        """End the run: what the pipeline still holds goes through the tracker,
        every document still open is written, the figures are counted, and the run
        document is written twice: as it stands, then once the database has taken
        everything before it (or has answered nothing for a while), with the
        store's figures. `command`, the reaped CMD of `godo record -- CMD`, gives
        its exit status where the stream has none."""
        report, pipeline, tracker, store = self.report, self.pipeline, self.tracker, self.store
        self.flush()
        if command is not None:
            report.exit_status = command.status
            report.exit_source = tracker.command_reaped(command.exit_code, command.signal,
                                                        command.reaped)
        tracker.finish(time.time() if tracker.live else tracker.last_ts or report.started)
        report.ended = time.time()
        report.pipeline = pipeline.stats()
        report.tracker = dict(tracker.counts)
        report.errors = [f"{where}: {what}" for where, what in pipeline.errors] + list(errors)
        report.store = store.stats()
        self.record()
        # Not for long: a database that takes writes slowly is waited for by the
        # command, which says how much is left (cli/record.py `settled`).
        store.settle(_SETTLE, timeout=_SETTLE_LONGEST)
        report.store = store.stats()
        self.record()
        return report

    def interrupt(self, exc: BaseException) -> None:
        """End a run that failed or was stopped part way: what it saw is still
        written, and its document says `interrupted`, with why. Best effort: the
        failure that interrupted it may fail this too, and must not be hidden by a
        second one. A run already ended is left as it is."""
        if self.report.ended is not None:
            return
        self.report.interrupted = self.report.interrupted or why_interrupted(exc)
        # What it still holds goes to the store, not to `on_activities`: the
        # callback may be what failed (a Ctrl-C in it, a closed pipe).
        self.on_activities = None
        try:
            self.finish()
        except Exception as second:  # noqa: BLE001 - the first error is the one raised
            print(f"godo: the interrupted run's last documents were not written: {second}",
                  file=sys.stderr)
