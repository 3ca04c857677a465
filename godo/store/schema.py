"""The collections godo writes and the indexes it creates at start."""

DEFAULT_DATABASE = "godo"
COLLECTIONS = ("processes", "files", "containers", "runs")

# collection -> the keys of each index
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "processes": [[("host", 1), ("start", 1)], [("pid", 1)], [("parent", 1)], [("container", 1)]],
    "files": [[("process", 1)], [("path", 1)], [("container", 1)]],
    "containers": [[("host", 1)], [("name", 1)]],
    "runs": [[("host", 1), ("started", 1)]],
}
