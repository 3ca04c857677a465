"""The hot path: parse records, assemble them into events, cook each event into
an activity; batches in, a list of `Activity` per batch out.

Both twins read the audit vocabulary (godo.vocab: record types, syscall tables,
the calls' rows) and keep the bounds in `contract`. The compiled twin is one
extension module built from `_ext/godo/hotpath/`; the pure-Python twin is `_parse_py`,
`_assemble_py` and `_cook_py`, wired by `_pipeline_py`. `godo.twins` picks.
"""

from ..twins import load

_twin = load("hotpath")
Activity = _twin.Activity
Pipeline = _twin.Pipeline
parse_record = _twin.parse_record

__all__ = ["Activity", "Pipeline", "parse_record"]
