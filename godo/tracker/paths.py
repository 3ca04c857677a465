"""Paths the tracker places: a name joined to a directory it knows."""

from __future__ import annotations

import posixpath


def join(base: str, name: str) -> str:
    """`name` under `base`, lexically normalised (`..` stops at the root)."""
    path = posixpath.normpath(base.rstrip("/") + "/" + name)
    return "/" + path.lstrip("/") if path.startswith("//") else path
