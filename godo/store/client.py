"""Talking to the database: pymongo errors as one line, the client with godo's
timeouts, and a count of its round trips."""

from __future__ import annotations

import threading

import pymongo
from pymongo import monitoring
from pymongo.errors import (ConfigurationError, ConnectionFailure, OperationFailure, PyMongoError,
                            ServerSelectionTimeoutError)

from ..errors import StoreError
from .uri import redact, uri_parts

# Server error codes for a login the server refused.
_UNAUTHORIZED, _AUTHENTICATION_FAILED = 13, 18

# How long a command waits for a server to talk to. A refused or unreachable
# database is reported within this; a slow one is not affected (that is the
# socket timeout), and a recording spills to its journal meanwhile.
SERVER_SELECTION_TIMEOUT = 2.0

# The longest reason kept whole: a server's message names its cause last, after
# the layers that wrapped it (FerretDB's `...: ERROR: relation "..." already
# exists (SQLSTATE 42P07)`), so a longer one loses its middle, never its end.
REASON_CHARS = 4000


def reason(exc: BaseException, uri: str | None = None) -> str:
    """A pymongo error as one line, the server's message whole, with no
    credentials and no control character in it (written `\\x1b`, as every
    godo view writes them)."""
    text = str(exc) or type(exc).__name__
    # pymongo appends a topology dump, the configured timeouts or the server's
    # whole reply (its message again, as a document); the reason comes first.
    for tail in (", Timeout:", " (configured timeouts:", ", full error:"):
        text = text.split(tail, 1)[0]
    text = " ".join(text.split())
    if uri:
        # The longest first: the userinfo whole, not its password inside it.
        for secret in sorted(uri_parts(uri).secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode()
                       for c in text)
    if len(text) > REASON_CHARS:
        head = REASON_CHARS // 4
        text = f"{text[:head]} ... {text[len(text) - (REASON_CHARS - head - 5):]}"
    return text


# What to do instead of naming several FerretDB front-ends in one URI.
ONE_FRONT_END = ("give godo one front-end, the one on its own host (a fleet runs a FerretDB on "
                 "every host, all in front of one PostgreSQL cluster whose URL names its servers)")


def check_front_ends(info: dict, uri: str) -> None:
    """Refuse a URI that names several FerretDB front-ends (`info`: the server's
    buildInfo). Each answers as a server of its own: pymongo drops standalone seeds,
    and of a "replica set" of them keeps the one that answered first, so it would
    never fail over to the others."""
    hosts = uri_parts(uri).host_list
    if "ferretdbVersion" in info and len(hosts) > 1:
        raise StoreError(f"the database URI {redact(uri)} names {len(hosts)} servers, and they "
                         f"are FerretDB front-ends, between which no client fails over: "
                         f"{ONE_FRONT_END}")


def _standalone_seeds(exc: PyMongoError, uri: str) -> bool:
    """Whether no server was found because every seed of a URI naming several
    answered as a standalone (FerretDB front-ends): pymongo dropped them all, so
    its topology has no server left, not even an unreachable one."""
    return (isinstance(exc, ServerSelectionTimeoutError) and str(exc).endswith("servers: []>")
            and len(uri_parts(uri).host_list) > 1)


def connect_error(exc: PyMongoError, uri: str) -> StoreError:
    where = redact(uri)
    if _standalone_seeds(exc, uri):
        return StoreError(f"cannot use the database at {where}: each of its "
                          f"{len(uri_parts(uri).host_list)} servers answered as a server of its "
                          f"own (FerretDB front-ends do), and no client fails over between such "
                          f"servers: {ONE_FRONT_END}")
    if isinstance(exc, ConfigurationError) and _from_dns(exc):
        # A mongodb+srv:// name that does not resolve: the URI may be right.
        return StoreError(f"cannot reach the database at {where}: {reason(exc, uri)}")
    if isinstance(exc, ConfigurationError):
        return StoreError(f"invalid database URI {where}: {reason(exc, uri)}")
    if isinstance(exc, ConnectionFailure):
        return StoreError(f"cannot reach the database at {where}: {reason(exc, uri)}")
    if isinstance(exc, OperationFailure) and exc.code in (_UNAUTHORIZED, _AUTHENTICATION_FAILED):
        return StoreError(f"the database at {where} refused godo: {reason(exc, uri)}")
    return StoreError(f"the database at {where} failed: {reason(exc, uri)}")


def _from_dns(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and type(cause).__module__.startswith("dns.")


def client(uri: str, timeout: float, listeners=(), *,
           socket_timeout: float | None = None) -> pymongo.MongoClient:
    """`socket_timeout`: how long one command may take to answer (default: 30 s, or
    six times `timeout`)."""
    options = {"appname": "godo", "event_listeners": list(listeners)}
    # Options in the URI win: it is used as the user gave it.
    lowered = uri.lower()
    if "serverselectiontimeoutms" not in lowered:
        options["serverSelectionTimeoutMS"] = max(1, int(min(timeout, SERVER_SELECTION_TIMEOUT) * 1000))
    if "connecttimeoutms" not in lowered:
        options["connectTimeoutMS"] = max(1, int(timeout * 1000))
    if "sockettimeoutms" not in lowered:
        # A server that takes a command and never answers must not hold a thread
        # forever; slow FerretDB commands take seconds, not this long.
        options["socketTimeoutMS"] = int(socket_timeout * 1000) if socket_timeout else max(
            30_000, int(timeout * 6000))
    try:
        return pymongo.MongoClient(uri, **options)
    except ValueError as exc:
        # pymongo raises a bare ValueError for some malformed URIs (a bad port).
        raise ConfigurationError(str(exc)) from None


class RoundTrips(monitoring.CommandListener):
    """Counts the commands this store's client sends (one per database round trip)
    and those that succeeded."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = self.succeeded_count = 0
        self.by_command: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.count += 1
            self.by_command[event.command_name] = self.by_command.get(event.command_name, 0) + 1

    def succeeded(self, event) -> None:
        with self._lock:
            self.succeeded_count += 1

    def failed(self, event) -> None:
        pass
