"""Mutations into the entries the store queues, journals and sends: each document
encoded to BSON once, here, so that the same bytes go to memory, to the spill
journal and to the database."""

from __future__ import annotations

import bson
from bson.errors import InvalidDocument

from .base import document_of
from .journal import key_of

MAX_DOCUMENT = 16 * 1024 * 1024


def encode_batch(mutations: list) -> tuple[list, list[str]]:
    """`(collection, _id, key, BSON)` entries for the mutations, and the reasons for
    the documents BSON cannot hold or that are over MongoDB's 16 MiB limit (refused
    for good: the caller counts them)."""
    entries, refused = [], []
    encode = bson.encode
    for name, doc in mutations:
        doc = document_of(doc)
        _id = doc["_id"]
        try:
            raw = encode(doc)
        except (InvalidDocument, TypeError, OverflowError, ValueError) as exc:
            refused.append(f"{name} {_id!r}: {exc}")
            continue
        if len(raw) > MAX_DOCUMENT:
            refused.append(f"{name} {_id!r}: {len(raw)} bytes is over the 16 MiB document limit")
            continue
        entries.append((name, _id, key_of(_id), raw))
    return entries, refused
