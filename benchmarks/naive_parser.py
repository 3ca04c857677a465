"""The naive baseline for the pure-Python twin: what anyone would write first.

Every line of the log, read as text, split on whitespace into a `key=value`
dict. No event assembly, no hex decoding, no typing of values: the pure-Python
twin does all of that and more, and still has to be at least this fast.

    .venv/bin/python benchmarks/naive_parser.py AUDIT_LOG
"""

from __future__ import annotations

import sys
import time


def parse_line(line: str) -> dict[str, str]:
    record = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            record[key] = value
    return record


def parse_file(path: str) -> int:
    """Parse every record of `path`; returns how many there were."""
    records = 0
    # surrogateescape: a log may hold bytes that are not UTF-8, and the naive
    # reader must not die on them any more than godo does.
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if parse_line(line):
                records += 1
    return records


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    start = time.perf_counter()
    records = parse_file(args[0])
    seconds = time.perf_counter() - start
    print(f"records {records} seconds {seconds:.6f} rate {records / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
