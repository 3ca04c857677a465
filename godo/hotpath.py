"""Pick the compiled hot path unless GODO_NO_EXTENSIONS is set or it did not build.

`ACCELERATED` says which one runs; `godo --version` prints it. The slow path is
never taken silently: `status`/`--version` report it, and the test suite fails if
the compiled twin was meant to load and did not.
"""

import os

NO_EXTENSIONS = bool(os.environ.get("GODO_NO_EXTENSIONS"))

if NO_EXTENSIONS:
    from ._hotpath_py import Activity, Pipeline, parse_record
    from ._receive_py import Receiver
    ACCELERATED = False
    IMPORT_ERROR = None
else:
    try:
        from ._hotpath_c import Activity, Pipeline, parse_record
        from ._receive_c import Receiver
        ACCELERATED = True
        IMPORT_ERROR = None
    except ImportError as exc:  # not built: say so wherever the mode is shown
        from ._hotpath_py import Activity, Pipeline, parse_record
        from ._receive_py import Receiver
        ACCELERATED = False
        IMPORT_ERROR = str(exc)

MODE = "accelerated" if ACCELERATED else "pure-python"

__all__ = ["ACCELERATED", "MODE", "Activity", "Pipeline", "Receiver", "parse_record"]
