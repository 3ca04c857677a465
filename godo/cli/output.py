"""Where a command's answer goes: stdout, as a terminal or a pipe wants it.

A pipe gets whole lines (no width, no colour, no trailing blanks) whatever
COLUMNS says; a terminal gets its width and a bold header. Listings give JSON
lines with --json: one document a line, for `jq` (`godo export` writes Extended JSON,
for mongoimport).
"""

from __future__ import annotations

import os
import shutil
import sys

import orjson

from .settings import JSON_OPTIONS, encode_other

_PIPE_WIDTH = 1 << 20  # rich's width for a pipe: no line is ever folded


def terminal_width() -> int | None:
    """The terminal's width, or None when stdout is not one."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size().columns


def print_lines(lines: list[str]) -> None:
    """Aligned lines, the first a header (bold on a colour terminal)."""
    if lines and terminal_width() is not None and not os.environ.get("NO_COLOR"):
        lines = [f"\x1b[1m{lines[0]}\x1b[0m", *lines[1:]]
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def print_rich(renderable) -> None:
    """A rich renderable (a tree): at the terminal's width, or unfolded to a pipe."""
    from rich.console import Console
    width = terminal_width()
    if width is not None:
        Console(highlight=False).print(renderable)
        return
    console = Console(highlight=False, width=_PIPE_WIDTH, color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def write_jsonl(docs: list[dict]) -> None:
    """Documents as JSON lines on stdout."""
    out = sys.stdout.buffer
    out.write(b"".join(orjson.dumps(doc, default=encode_other, option=JSON_OPTIONS) + b"\n"
                       for doc in docs))
    out.flush()


def nothing(what: str) -> int:
    """An empty answer is an answer: said on stderr, and exit status 0."""
    print(f"godo: {what}", file=sys.stderr)
    return 0
