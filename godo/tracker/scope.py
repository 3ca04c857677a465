"""The scope of a run: which processes get documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """Which processes get documents: `containers` (descendants of a runtime
    shim), `host` (all), `pid` (the subtree of root_pid) or `command` (the
    subtree godo started, root_pid)."""

    kind: str = "containers"
    root_pid: int | None = None

    def describe(self) -> str:
        return self.kind if self.root_pid is None else f"{self.kind} {self.root_pid}"
