"""The collections godo writes and the indexes it creates at start."""

DEFAULT_DATABASE = "godo"
COLLECTIONS = ("processes", "files", "containers", "runs")

# collection -> the keys of each index. One for every filter the command line
# uses, with the listing's sort after an equality where both go together:
# `tree` selects by run or container and sorts by start, `files` by run,
# container or pid and sorts by opened; --since/--until bound start/exit_time
# and opened/closed; `files --path` matches path and host_path; `containers`
# reads each container's processes and files written. (MongoDB uses them all;
# godo's FerretDB build those its pushdown compares: godo/data/ferretdb/.)
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "processes": [[("host", 1), ("start", 1)], [("run", 1), ("start", 1)],
                  [("container", 1), ("start", 1)], [("pid", 1)], [("parent", 1)],
                  [("start", 1)], [("exit_time", 1)], [("exe", 1)]],
    "files": [[("run", 1), ("opened", 1)], [("container", 1), ("opened", 1)],
              [("pid", 1), ("opened", 1)], [("process", 1)], [("path", 1)], [("host_path", 1)],
              [("opened", 1)], [("closed", 1)], [("last_write", 1)]],
    "containers": [[("host", 1)], [("id", 1)], [("name", 1)]],
    "runs": [[("host", 1), ("started", 1)], [("started", 1)]],
}
