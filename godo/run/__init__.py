"""A run: a source, the pipeline, the tracker and a store wired together.

- `live`: recording the kernel's stream (`godo record`), with `command` for
  `godo record -- CMD`.
- `replay`: an audit.log (`godo replay`).
- `report`: what a run saw, and `finish_run`, the one way both end.
"""
