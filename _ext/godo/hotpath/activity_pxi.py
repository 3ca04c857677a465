"""Writes activity.pxi, the compiled twin's Activity class, from the contract's field
list (godo/hotpath/contract.py: ACTIVITY_HEAD, ACTIVITY_FIELDS), so the fields are
declared once for both twins. setup.py runs it before Cython; the file it writes is
build output, like the .c files.

    python _ext/godo/hotpath/activity_pxi.py godo/hotpath/contract.py _ext/godo/hotpath/activity.pxi
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

TEMPLATE = '''\
# Written by _ext/godo/hotpath/activity_pxi.py from godo/hotpath/contract.py: do not edit.

# Holds only str, int, float, bool and lists of str: it cannot close a reference
# cycle, and untracked it costs the cyclic GC nothing however many a batch holds.
@cython.no_gc
cdef class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract."""

{declarations}

    def __init__(self, {head}):
{assignments}

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        cdef dict out = {{}}
{copies}
        return out

    def __repr__(self) -> str:
        return f"Activity({{self.to_dict()!r}})"
'''


def render(head: tuple, fields: tuple) -> str:
    declarations = "\n".join(f"    cdef public object {name}" for name in fields)
    assignments = "\n".join(f"        self.{name} = {name}" for name in head)
    copies = "\n".join(f"        if self.{name} is not None:\n            out[{name!r}] = self.{name}"
                       for name in fields)
    return TEMPLATE.format(declarations=declarations, head=", ".join(head),
                           assignments=assignments, copies=copies)


def write(contract: Path, out: Path) -> bool:
    """Write `out` from `contract` unless it already holds the same; whether it changed."""
    table = runpy.run_path(str(contract))
    text = render(table["ACTIVITY_HEAD"], table["ACTIVITY_FIELDS"])
    if out.exists() and out.read_text() == text:
        return False
    out.write_text(text)
    return True


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]))
