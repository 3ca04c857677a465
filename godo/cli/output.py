"""Where a command's answer goes: stdout, as a terminal or a pipe wants it.

A pipe gets whole lines (no width, no colour, no trailing blanks) whatever
COLUMNS says; a terminal gets its width and a bold header. Listings give JSON
lines with --json: one document a line, for `jq` (`godo export` writes Extended JSON,
for mongoimport).
"""

from __future__ import annotations

import os
import sys

_PIPE_WIDTH = 1 << 20  # rich's width for a pipe: no line is ever folded


def shown(value) -> str:
    """A value from the audited host (argv, a path, comm, exe, a host or container
    name) as a terminal may be given it: every character Python does not call
    printable (C0 and C1 controls, ESC, BEL, CR, DEL, bidi and zero-width format
    characters, line and paragraph separators, lone surrogates) written as a
    visible escape, `\\x1b`, `\\u202e`. Anyone who can run a program on a
    recorded host chooses these bytes: raw, they move the cursor, erase lines and
    set the clipboard (OSC 52). Bytes that were not UTF-8 are already `\\xNN`
    text in the store. The one escaping of every view; --json and export write
    the values exactly (JSON escapes controls itself)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_width() -> int | None:
    """The terminal's width, or None when stdout is not one."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return columns()


def columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (and zlib, bz2
    and lzma under it) into every command: $COLUMNS, else stdout's terminal, else 80."""
    try:
        width = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        width = 0
    if width <= 0:
        try:
            width = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            width = 0
    return width or 80


def print_lines(lines: list[str]) -> None:
    """Aligned lines, the first a header (bold on a colour terminal)."""
    if lines and terminal_width() is not None and not os.environ.get("NO_COLOR"):
        lines = [f"\x1b[1m{lines[0]}\x1b[0m", *lines[1:]]
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def print_rich(renderable, wide: bool = False) -> None:
    """A rich renderable (a tree): at the terminal's width, or unfolded to a pipe
    (`wide`: unfolded on a terminal too, in colour)."""
    from rich.console import Console
    width = terminal_width()
    if width is not None and not wide:
        Console(highlight=False).print(renderable)
        return
    console = Console(highlight=False, width=_PIPE_WIDTH,
                      color_system=None if width is None else "auto", force_terminal=width is not None)
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def write_jsonl(docs: list[dict]) -> None:
    """Documents as JSON lines on stdout."""
    import orjson  # here: `shown` is every command's, JSON lines only --json's
    from .settings import JSON_OPTIONS, encode_other
    out = sys.stdout.buffer
    out.write(b"".join(orjson.dumps(doc, default=encode_other, option=JSON_OPTIONS) + b"\n"
                       for doc in docs))
    out.flush()


def nothing(what: str) -> int:
    """An empty answer is an answer: said on stderr, and exit status 0."""
    print(f"godo: {shown(what)}", file=sys.stderr)
    return 0
