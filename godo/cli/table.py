"""Aligned text tables that fit a terminal without a row wrapping.

A table is columns, its last the free one (a path). At a terminal's width the
columns are first narrowed (a shorter header, a shorter time), then dropped, each
by its priority, until every fixed column and MIN_FREE of the free one fit on a
line; the free column is then cut in its middle to what is left. With no width
(a pipe, or --wide) every cell is whole and nothing is dropped."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# The narrowest a path may be shown in its column; only when dropping every column
# that may go still leaves it less does it go on a line of its own.
MIN_FREE = 24
GAP = 2
KEPT = 1 << 30   # the priority of a column never dropped


@dataclass(frozen=True)
class Column:
    header: str
    cells: list[str]
    right: bool = False
    # The lowest is narrowed, then dropped, first; KEPT: never dropped.
    priority: int = KEPT
    # A narrower form (header, cells), tried before any column is dropped.
    narrow: tuple[str, list[str]] | None = field(default=None, compare=False)

    @property
    def width(self) -> int:
        return max([len(self.header)] + [len(cell) for cell in self.cells])


def table(cols: list[Column], width: int | None, notes: list[str | None] | None = None) -> list[str]:
    """The header line, then a line per row (and its note, if any, a line of its
    own under the free column: a container's file's host path)."""
    cols = fitted(cols, width)
    fixed = [col.width for col in cols[:-1]]
    start = sum(fixed) + GAP * len(fixed)
    free = None if width is None else width - start
    own_line = free is not None and free < min(MIN_FREE, cols[-1].width)
    if own_line:
        free, start = width - 4, 4

    def line(cells: list[str]) -> list[str]:
        parts = [cell.rjust(w) if col.right else cell.ljust(w)
                 for cell, w, col in zip(cells, fixed, cols)]
        last = shorten_middle(cells[-1], free)
        if own_line:
            return ["  ".join(parts).rstrip(), " " * start + last]
        return ["  ".join(parts + [last]).rstrip()]

    # The notes start under the free column, or, where the longest is longer than
    # the room there, as far left as it needs (to 4 columns in); only then are they cut.
    longest = max((len(note) for note in notes or () if note), default=0)
    indent = start if width is None else max(4, min(start, width - longest))
    out = line([col.header for col in cols])[:1]
    rows = len(cols[0].cells)
    for i in range(rows):
        out += line([col.cells[i] for col in cols])
        note = notes[i] if notes else None
        if note is not None:
            out.append(" " * indent + shorten_middle(note, None if width is None else width - indent))
    return out


def fitted(cols: list[Column], width: int | None) -> list[Column]:
    """The columns that fit `width`: narrowed, then dropped, lowest priority first."""
    if width is None:
        return cols
    cols = list(cols)

    def fits() -> bool:
        fixed = sum(col.width for col in cols[:-1]) + GAP * (len(cols) - 1)
        return fixed + min(MIN_FREE, cols[-1].width) <= width

    for col in sorted((c for c in cols if c.narrow), key=lambda c: c.priority):
        if fits():
            return cols
        header, cells = col.narrow
        cols[cols.index(col)] = replace(col, header=header, cells=cells, narrow=None)
    for col in sorted((c for c in cols[:-1] if c.priority != KEPT), key=lambda c: c.priority):
        if fits():
            return cols
        cols.remove(col)
    return cols


def shorten_middle(text: str, width: int | None) -> str:
    """`text` cut to `width` characters by an ellipsis in its middle, leaning to
    keep its end (a file's name)."""
    if width is None or len(text) <= width:
        return text
    if width < 3:
        return text[-width:] if width > 0 else ""
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def shorten_end(text: str, width: int | None) -> str:
    """`text` cut to `width` characters, an ellipsis at its end (argv: its start says most)."""
    if width is None or len(text) <= width:
        return text
    return text[:width - 1] + "…" if width > 0 else ""
