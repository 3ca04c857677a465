"""Writes the compiled twin's Activity class (activity_fields.pxi, its fields, for
_hotpath_c.pxd; activity.pxi, its methods, for _hotpath_c.pyx) from the contract's
field list (godo/hotpath/contract.py: ACTIVITY_HEAD, ACTIVITY_FIELDS), so the
fields are declared once for both twins. setup.py runs it before Cython; the files
it writes are build output, like the .c files.

    python _ext/godo/hotpath/activity_pxi.py godo/hotpath/contract.py _ext/godo/hotpath
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HEADER = "# Written by _ext/godo/hotpath/activity_pxi.py from godo/hotpath/contract.py: do not edit.\n"

# Included by _hotpath_c.pxd: the fields, so that other compiled modules (the
# tracker) read an activity's fields as the C struct they are.
DECLARATION = HEADER + '''
cdef class Activity:
{declarations}
'''

# Included by _hotpath_c.pyx: the methods.
DEFINITION = HEADER + '''
cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)

# Holds only str, int, float, bool and lists of str: it cannot close a reference
# cycle, and untracked it costs the cyclic GC nothing however many a batch holds.
# A batch's activities die together and the next batch's are made at once: kept on
# a free list, their memory is reused instead of freed and allocated again.
@cython.no_gc
@cython.freelist(2048)
cdef class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract."""

    def __init__(self, {head}):
{assignments}

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        # Sized for every field at once: grown one key at a time, a dict of this
        # many keys is resized twice on the way.
        cdef dict out = _PyDict_NewPresized({count})
{copies}
        return out

    def __repr__(self) -> str:
        return f"Activity({{self.to_dict()!r}})"
'''


def render(head: tuple, fields: tuple) -> tuple[str, str]:
    """(the declaration, the definition)."""
    declarations = "\n".join(f"    cdef public object {name}" for name in fields)
    assignments = "\n".join(f"        self.{name} = {name}" for name in head)
    copies = "\n".join(f"        if self.{name} is not None:\n            out[{name!r}] = self.{name}"
                       for name in fields)
    return (DECLARATION.format(declarations=declarations),
            DEFINITION.format(head=", ".join(head), assignments=assignments, copies=copies,
                              count=len(fields)))


def write(contract: Path, directory: Path) -> None:
    """activity_fields.pxi and activity.pxi in `directory`, from `contract`; each
    rewritten only when it changes (the build goes by their mtimes)."""
    table = runpy.run_path(str(contract))
    texts = render(table["ACTIVITY_HEAD"], table["ACTIVITY_FIELDS"])
    for name, text in zip(("activity_fields.pxi", "activity.pxi"), texts):
        out = directory / name
        if not out.exists() or out.read_text() != text:
            out.write_text(text)


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]))
