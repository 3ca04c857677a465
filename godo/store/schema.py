"""The collections godo writes and the indexes it creates at start."""

DEFAULT_DATABASE = "godo"
COLLECTIONS = ("processes", "files", "containers", "runs")

# collection -> the keys of each index: one for every filter the command line
# uses, with the listing's sort after an equality where both go together, and
# no more (each costs FerretDB ~6-7 µs on every document written, against
# ~70 µs for the insert itself: benchmarks/store_cost.py). `tree` selects by run
# or container and sorts by start, `files` by run, container or pid and sorts by
# opened; --since/--until bound start/exit_time and opened/closed; `files --path`
# matches path and host_path; `containers` reads the containers collection alone.
# `--host H` across runs (a fleet's store) selects by host and sorts as above:
# without {host, start/opened} the database reads every other host's documents
# in that order to reach H's (benchmarks/query_store.py --hosts 4: 29-34 s at 1M
# files). `runs` and `containers` are small; their {host} indexes serve `hosts`.
# (MongoDB uses them all; godo's FerretDB build those its pushdown compares:
# godo/data/ferretdb/.) Query times at 1M files: benchmarks/README.md.
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "processes": [[("run", 1), ("start", 1)], [("container", 1), ("start", 1)],
                  [("host", 1), ("start", 1)], [("start", 1)], [("exit_time", 1)]],
    "files": [[("run", 1), ("opened", 1)], [("container", 1), ("opened", 1)],
              [("pid", 1), ("opened", 1)], [("host", 1), ("opened", 1)], [("path", 1)],
              [("host_path", 1)], [("opened", 1)], [("closed", 1)]],
    "containers": [[("host", 1)], [("id", 1)], [("name", 1)]],
    "runs": [[("host", 1), ("started", 1)], [("started", 1)]],
}
