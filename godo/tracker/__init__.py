"""The tracker: activities in, the documents users query out.

- `model`: processes, open files and containers as the tracker keeps them, and
  the documents made of them; `scope`: which processes get documents.
- `tracker`: the process table, fd tables, scope and container attribution.
- `procfs`: what /proc says about processes godo did not see start.
- `runtimes`: container runtimes' shims and container ids.

`model` and `tracker` are compiled as they are (Cython's pure mode: the .py is the
source and the pure-Python twin, `_ext/godo/tracker/*.pxd` types them) into
`_model_c` and `_tracker_c`; `godo.twins` picks.
"""

from ..twins import load
from .scope import Scope

Tracker = load("tracker").Tracker

__all__ = ["Scope", "Tracker"]
