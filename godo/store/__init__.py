"""The store: document mutations into MongoDB (or the embedded FerretDB).

- `base`: the `Store` protocol every store keeps, and `NullStore`.
- `writer`: `MongoStore`, bulk writes on its own thread; `backlog`, `bulk`,
  `client` its parts; `journal` and `journal_dir` the spill journal on local disk.
- `ferret`: the embedded FerretDB; `local`: database servers on this host.
- `schema`: the collections and their indexes; `queries`: what the CLI asks.
- `opening`: the store to record into, or the database to query, by URI or the
  embedded server.

Nothing is imported here: `godo --version` and `godo status` start without pymongo.
"""

