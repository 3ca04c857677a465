"""The tracker: activities in, the documents users query out.

- `model`: processes, open files and containers as the tracker keeps them, and
  the documents made of them; `scope`: which processes get documents.
- `tracker`: the process table and scope, composed of its parts `files` (fd
  tables, open files) and `containers` (container attribution), each owning its
  state.
- `paths`: a name joined to a directory the tracker knows, the exe a process shows.
- `procfs`: what /proc says about processes godo did not see start.
- `runtimes`: container runtimes' shims and container ids.

The parts `paths`, `model`, `files`, `containers` and `tracker` are compiled as they are
(Cython's pure mode: each .py is the source and the pure-Python twin) into
`godo._tracker_c`, typed by the .pxd beside each compiled part there; `godo.twins`
picks.
"""

from ..twins import load
from .scope import Scope

Tracker = load("tracker").Tracker

__all__ = ["Scope", "Tracker"]
