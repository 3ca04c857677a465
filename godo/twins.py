"""Which twin runs: the compiled extension modules, unless GODO_NO_EXTENSIONS is
set or one of them did not build.

Each compiled module (built from `_ext/`) has a pure-Python twin with the same
names and results. The slow path is never taken silently: `mode()` is what
`godo --version`, `godo status` and every run document report, and the test
suite fails when a compiled twin was meant to load and did not.
"""

from __future__ import annotations

import importlib
import os

NO_EXTENSIONS = bool(os.environ.get("GODO_NO_EXTENSIONS"))

# stage -> (compiled module, pure-Python twin)
TWINS = {
    "hotpath": ("godo.hotpath._hotpath_c", "godo.hotpath._pipeline_py"),
    "receive": ("godo.source._receive_c", "godo.source._receive_py"),
    "tracker": ("godo._tracker_c.tracker", "godo.tracker.tracker"),
}
IMPORT_ERRORS: dict[str, str] = {}  # compiled module -> why it did not load


# A stage whose compiled twin reads another's objects as C structs runs compiled
# only with it: the compiled tracker takes the compiled hot path's activities.
_NEEDS = {"tracker": "hotpath"}


def load(stage: str):
    """The module that runs `stage`: the compiled one when it loads."""
    compiled, pure = TWINS[stage]
    needs = _NEEDS.get(stage)
    if not NO_EXTENSIONS and (needs is None or load(needs).__name__ == TWINS[needs][0]):
        try:
            return importlib.import_module(compiled)
        except ImportError as exc:  # not built: said wherever the mode is shown
            IMPORT_ERRORS[compiled] = str(exc)
    return importlib.import_module(pure)


def accelerated() -> bool:
    """Whether every stage runs compiled."""
    return all(load(stage).__name__ == TWINS[stage][0] for stage in TWINS)


def mode() -> str:
    return "accelerated" if accelerated() else "pure-python"
