"""What one run saw (`RunReport`: the summary and the `runs` document), and how
a run that ended early says why (`why_interrupted`)."""

from __future__ import annotations

import os
import signal
import time

from .. import __version__
from ..paths import boot_id, hostname
from ..tracker import Scope
from ..tracker.model import utc
from ..twins import mode


class RunReport:
    """What one run saw, for the summary and the `runs` document.

    A plain class, not a dataclass: `dataclasses` (and the `inspect` it imports)
    would be a tenth of every godo command's start-up."""

    command: list[str] | None = None
    ended: float | None = None
    exit_status: int | None = None
    exit_source: str | None = None  # where CMD's exit status came from: "audit" or "waitpid"
    lost_start: int | None = None
    lost_end: int | None = None
    session: int | None = None
    drained: bool | None = None
    received: int | None = None     # datagrams taken from the kernel (live runs)
    overruns: int = 0               # ENOBUFS seen by the receiver
    batches: int = 0                # receive calls that brought datagrams (live runs)
    priority_boost: int = 0         # how much nicer the live thread ran (0: as started)
    interrupted: str | None = None  # why the run ended before its natural end
    failed: str | None = None       # why the run failed (a replay of a log with no records)
    # Audit's reach on this boot (source/coverage.py, as a document), and when this
    # run turned audit on (seconds on the boot clock; None: it was on already).
    coverage: dict | None = None
    audit_enabled_at: float | None = None

    def __init__(self, run_id: str, host: str, started: float, mode: str, scope: str,
                 command: list[str] | None = None) -> None:
        self.run_id, self.host, self.started, self.mode, self.scope = run_id, host, started, mode, scope
        self.command = command
        self.rules: list[str] = []
        self.pipeline: dict = {}
        self.tracker: dict = {}
        self.store: dict = {}
        self.errors: list[str] = []

    def __repr__(self) -> str:
        return f"RunReport({self.__dict__!r})"

    def loss(self) -> dict:
        """godo's own losses, each counted two ways at a stage boundary, so a figure
        above 0 means something was lost inside godo (the kernel's are `lost`):
          records     datagrams received, less records parsed and refused as malformed
          activities  activities cooked, less activities the tracker applied
          mutations   document writes queued, less acknowledged and still waiting
                      (in memory or in the spill journal), counted by the store
          dropped     document writes the store gave up on, neither written nor
                      journaled (the journal full when godo was told to stop)
          journal     document writes in damaged spill-journal records (their
                      checksums failed), and `journal_unknown`: damaged records
                      whose count of documents could not be read (each at least one)
          rejected    documents the database (or the encoder, over 16 MiB) refused
                      for good; the last reason is `store.last_error`"""
        pipe, store = self.pipeline, self.store
        records = 0
        if self.received is not None:
            records = max(0, self.received - pipe.get("records", 0) - pipe.get("malformed", 0))
        activities = max(0, pipe.get("activities", 0) - self.tracker.get("activities", 0))
        mutations = max(0, store.get("unaccounted", 0) or 0)
        dropped = store.get("dropped", 0) or 0
        journal = store.get("journal") or {}
        damaged = journal.get("lost_mutations", 0) or 0
        unknown = journal.get("unknown_records", 0) or 0
        rejected = store.get("rejected", 0) or 0
        return {"records": records, "activities": activities, "mutations": mutations,
                "dropped": dropped, "rejected": rejected, "journal": damaged,
                "journal_unknown": unknown,
                "total": records + activities + mutations + dropped + rejected + damaged + unknown}

    def lost_lines(self) -> list[str]:
        """What godo lost, one line each, for stderr; none when it lost nothing."""
        loss = self.loss()
        if not loss["total"]:
            return []
        lines = [f"godo lost {loss['total']} document writes or records in this run "
                 f"(records {loss['records']}, activities {loss['activities']}, "
                 f"mutations {loss['mutations']}, dropped {loss['dropped']}, "
                 f"rejected {loss['rejected']}, damaged journal {loss['journal']})"]
        if loss["rejected"] and self.store.get("last_error"):
            lines.append(f"the database refused {loss['rejected']} documents for good; the last: "
                         f"{self.store['last_error']}")
        journal = self.store.get("journal") or {}
        if loss["journal"] or loss["journal_unknown"]:
            unknown = (f", and {loss['journal_unknown']} damaged records that cannot say how many "
                       "they held" if loss["journal_unknown"] else "")
            lines.append(f"the spill journal was damaged: {loss['journal']} document writes lost in "
                         f"{journal.get('lost_records', 0)} records{unknown}; the damaged segments "
                         f"({', '.join(journal.get('damaged') or []) or 'none'}) are kept in "
                         f"{journal.get('damaged_dir')}")
        return lines

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.interrupted:
            return "interrupted"
        return "running" if self.ended is None else "finished"

    @property
    def lost(self) -> int | None:
        if self.lost_start is None or self.lost_end is None:
            return None
        return (self.lost_end - self.lost_start) & 0xFFFFFFFF

    def document(self) -> dict:
        loss = self.loss()
        return {
            "_id": self.run_id, "host": self.host, "boot_id": boot_id(),
            "started": utc(self.started), "ended": utc(self.ended),
            "status": self.status, "interrupted": self.interrupted, "failed": self.failed,
            "pid": os.getpid(),
            "mode": self.mode, "scope": self.scope, "command": self.command,
            "exit_status": self.exit_status,
            "exit_source": self.exit_source, "godo": __version__, "hotpath": mode(),
            "rules": self.rules, "kernel_lost_start": self.lost_start,
            "kernel_lost_end": self.lost_end, "kernel_lost": self.lost,
            "records": self.pipeline.get("records", 0), "events": self.pipeline.get("events", 0),
            "activities": self.pipeline.get("activities", 0),
            "malformed": self.pipeline.get("malformed", 0),
            "serial_gaps": self.pipeline.get("serial_gaps", 0),
            "processes": self.tracker.get("processes", 0), "files": self.tracker.get("files", 0),
            "audit_coverage": self.coverage, "audit_enabled_at": self.audit_enabled_at,
            "unaudited": self.tracker.get("unaudited", 0),
            "store": self.store, "errors": self.errors[:100], "audit_session": self.session,
            "drained": self.drained, "received": self.received, "overruns": self.overruns,
            "batches": self.batches,
            "priority_boost": self.priority_boost,
            "godo_lost": loss["total"], "loss": loss,
        }


def new_run(mode: str, scope: Scope, command=None, host: str | None = None) -> RunReport:
    """A run's report, started now, on `host` (this machine's name when None)."""
    host = host or hostname()
    return RunReport(f"{host}:{time.strftime('%Y%m%dT%H%M%S')}:{os.urandom(4).hex()}", host,
                     time.time(), mode, scope.describe(), command)


def why_interrupted(exc: BaseException | None = None, signum: int = 0, early: bool = False) -> str:
    """A run's early end said in a few words: the signal, or the error."""
    if signum:
        return f"stopped by {signal.Signals(signum).name}" + (" before recording began" if early else "")
    if isinstance(exc, KeyboardInterrupt):
        return "stopped by SIGINT"
    if not isinstance(exc, Exception) and str(exc):
        return str(exc)  # the CLI's SIGTERM says which signal it was
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
