"""Paths the tracker places: a name joined to a directory it knows, and the
program a process shows. Both run for most activities, so this module is one of
the tracker's compiled parts (paths.pxd)."""

from __future__ import annotations

try:  # normpath's C core, called without the Python function around it (CPython 3.11+)
    from posix import _path_normpath as _normpath
except ImportError:
    from posixpath import normpath as _normpath


def join(base: str, name: str) -> str:
    """`name` under `base`, lexically normalised (`..` stops at the root)."""
    head = base.rstrip("/") if base.endswith("/") else base
    # openat(fd, ".") (a directory opened again, as find and rm -r do): the
    # directory itself, which is what normpath makes of `dir/.`.
    path = (head or "/") if name == "." else f"{head}/{name}"
    # Most joins have nothing to normalise (absolute, no `.` or `..` part, no doubled
    # or trailing slash): those are the joined text as it is, without normpath's walk.
    if (path.startswith("/") and "/." not in path and "//" not in path
            and (not path.endswith("/") or path == "/")):
        return path
    path = _normpath(path) or "."  # (as posixpath.normpath has it: `a/..` is `.`)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def real_exe(exe: str | None, known: str | None) -> str | None:
    """The exe to show: runc re-executes itself through a copy of /proc/self/exe
    on a detached mount (its exe reads `/`) or in a memfd; that is still the
    program it was (`known`)."""
    if exe and known and (exe == "/" or exe.startswith("/memfd:")):
        return known
    return exe
