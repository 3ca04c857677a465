"""The tracker: activities in, the documents users query out.

- `model`: processes, open files and containers as the tracker keeps them, and
  the documents made of them; the scope.
- `tracker`: the process table, fd tables, scope and container attribution.
- `procfs`: what /proc says about processes godo did not see start.
- `runtimes`: container runtimes' shims and container ids.
"""

from .model import Scope
from .tracker import Tracker

__all__ = ["Scope", "Tracker"]
