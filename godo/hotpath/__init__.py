"""The hot path: parse records, assemble them into events, cook each event into
an activity; batches in, a list of `Activity` per batch out.

`contract` holds the tables both twins load. The compiled twin is one extension
module built from `_ext/hotpath/`; the pure-Python twin is `_parse_py`,
`_assemble_py` and `_cook_py`, wired by `_pipeline_py`. `godo.twins` picks.
"""

from ..twins import load

_twin = load("hotpath")
Activity = _twin.Activity
Pipeline = _twin.Pipeline
parse_record = _twin.parse_record

__all__ = ["Activity", "Pipeline", "parse_record"]
