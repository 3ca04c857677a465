"""The fleet's store: one PostgreSQL cluster (a primary and its standbys) that every
host writes into through a FerretDB front-end of its own (godo/store/ferret.py,
with the PostgreSQL handler). This module holds what is particular to that URL:
checking it, keeping its password off FerretDB's command line, and naming the
front-end's directory.

The URL is libpq's, `postgres://USER[:PASSWORD]@H1:P1,H2:P2/DB?...`; with more
than one host godo adds `target_session_attrs=read-write` unless the URL says
otherwise, so the front-end (pgx, as libpq) connects to whichever host takes
writes and follows a promoted standby by itself. FerretDB's arguments can be read
by every user in /proc/PID/cmdline, so the URL it is given carries no password:
the password goes into a 0600 passfile in the front-end's 0700 directory, named to
FerretDB by $PGPASSFILE (pgx reads it as libpq does; /proc/PID/environ is readable
by the process's own user alone)."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError, StoreError
from ..paths import open_private

SCHEMES = ("postgres", "postgresql")
_PASSFILE = "pgpass"
# FerretDB's errors carry the Go call trail they passed through:
# `[msg_ping.go:55 handler.(*Handler).MsgPing] [backend.go:68 ...] failed to connect...`
# (the last one perhaps cut short, where a long error was).
_GO_FRAME = re.compile(r"\[[\w.-]+\.go:\d+ [^\]]*\]\s*|\[[\w.-]+\.go:[^\]]*$")


def redact_url(url: str) -> str:
    """`url` fit to print (the MongoDB URI's rules: user and password masked)."""
    from .uri import redact
    return redact(url)


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password or None); the password may be
    in the user part or a `password=` option. ConfigError unless it is a
    postgres:// URL naming at least one host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc.rpartition("@")[2]:
        raise ConfigError(f"invalid PostgreSQL URL {redact_url(url)}: it must begin with "
                          "'postgres://' and name a host (postgres://USER@HOST:PORT,HOST:PORT/DB)")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secret = urllib.parse.unquote(password) if colon else None
    options = []
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            secret = value
        else:
            options.append((key, value))
    if "," in hosts and not any(key == "target_session_attrs" for key, _ in options):
        options.append(("target_session_attrs", "read-write"))
    netloc = f"{user}@{hosts}" if at else hosts
    public = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                      urllib.parse.urlencode(options), ""))
    return public, secret


def front_end_dir(root: Path, public_url: str) -> Path:
    """The directory of the front-end serving `public_url` under a data directory:
    one per cluster, so a server started for one is never reused for another."""
    digest = hashlib.sha256(public_url.encode()).hexdigest()[:8]
    return root / f"ferretdb-pg-{digest}"


def write_passfile(directory: Path, password: str) -> Path:
    """A 0600 passfile in `directory` that gives `password` to every host, database
    and user (it serves one URL); libpq's format, `:` and `\\` escaped."""
    path = directory / _PASSFILE
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "the PostgreSQL passfile")
    try:
        os.write(fd, f"*:*:*:*:{escaped}\n".encode())
    finally:
        os.close(fd)
    return path


@contextmanager
def naming_the_cluster(socket_uri: str, public_url: str):
    """StoreErrors raised in the block name the cluster, not this host's front-end
    socket, and say FerretDB's cause without its Go call trail."""
    try:
        yield
    except StoreError as exc:
        text = str(exc).replace(socket_uri, f"{redact_url(public_url)} (through this host's FerretDB)")
        exc.args = (_GO_FRAME.sub("", text),)
        raise
