"""A run: a source, the pipeline, the tracker and a store wired together.

- `live`: recording the kernel's stream (`godo record`), with `command` for
  `godo record -- CMD`.
- `replay`: an audit.log (`godo replay`).
- `wiring`: `Run`, a run wired once (source batches -> pipeline -> tracker ->
  store, and its report), and the one way every run ends (`finish`, `interrupt`).
- `report`: what a run saw.
"""
