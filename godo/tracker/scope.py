"""The scope of a run: which processes get documents."""

from __future__ import annotations

from collections import namedtuple


# A named tuple, not a frozen dataclass: `dataclasses` (and the `inspect` it
# imports) would be a tenth of every godo command's start-up.
class Scope(namedtuple("Scope", ("kind", "root_pid"), defaults=("containers", None))):
    """Which processes get documents: `containers` (descendants of a runtime
    shim), `host` (all), `pid` (the subtree of root_pid) or `command` (the
    subtree godo started, root_pid)."""

    __slots__ = ()

    def describe(self) -> str:
        return self.kind if self.root_pid is None else f"{self.kind} {self.root_pid}"
