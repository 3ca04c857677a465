"""Database URIs: the one to use, and how to print one (no pymongo needed)."""

from __future__ import annotations

import os
import re

_SECRET_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.IGNORECASE)


def redact(uri: str) -> str:
    """`uri` fit to print: user and password masked, and any option that may hold a
    secret. Masks too much rather than too little when the URI is malformed."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    at = rest.rfind("@")
    if at >= 0:
        rest = ("***:***" if ":" in rest[:at] else "***") + rest[at:]
    head, question, query = rest.partition("?")
    if question:
        parts = re.split(r"([&;])", query)
        for i, part in enumerate(parts):
            key, eq, _value = part.partition("=")
            if eq and _SECRET_OPTION.search(key):
                parts[i] = f"{key}=***"
        query = "".join(parts)
    return scheme + sep + head + question + query


def resolve_uri(uri: str | None) -> str | None:
    """The URI given, else $GODO_MONGO_URI, else None (the embedded FerretDB)."""
    return uri or os.environ.get("GODO_MONGO_URI") or None
