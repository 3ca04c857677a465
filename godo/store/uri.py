"""Database URIs: the one to use, how to print one, and its parts (no pymongo
needed: its parser would resolve a mongodb+srv:// name in DNS)."""

from __future__ import annotations

import os
import re
import urllib.parse

_SECRET_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.IGNORECASE)


class UriParts:
    """A URI's text cut as pymongo cuts it: `scheme://userinfo@hosts/path?options`.
    Each part as written (percent-escapes kept); "" where it is absent. `hosts`:
    "h1:1,h2:2", or a percent-escaped Unix socket path; `slash`: a "/" after the
    hosts; `question`: a "?" before the options. (No dataclass: a command that
    never talks to a database imports this module too.)"""
    __slots__ = ("scheme", "userinfo", "hosts", "path", "options", "slash", "question")

    def __init__(self, scheme: str, userinfo: str, hosts: str, path: str, options: str,
                 slash: bool, question: bool):
        self.scheme, self.userinfo, self.hosts, self.path = scheme, userinfo, hosts, path
        self.options, self.slash, self.question = options, slash, question

    @property
    def host_list(self) -> list[str]:
        return [host for host in self.hosts.split(",") if host]

    @property
    def database(self) -> str:
        """The database the path names, unescaped ("" when none)."""
        return urllib.parse.unquote_plus(self.path)

    @property
    def secrets(self) -> set[str]:
        """What a message must never show: the userinfo, the password, escaped
        and not."""
        password = self.userinfo.partition(":")[2]
        return {self.userinfo, password, urllib.parse.unquote_plus(password)} - {""}


def uri_parts(uri: str) -> UriParts:
    """The parts of `uri`. The options begin at the first "?"; the userinfo ends
    at the last "@" before them (an "@" in a password is written %40, but a
    malformed one is still masked whole); the hosts end at the first "/"."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    head, question, options = rest.partition("?")
    userinfo, _, address = head.rpartition("@")
    hosts, slash, path = address.partition("/")
    return UriParts(scheme, userinfo, hosts, path, options, bool(slash), bool(question))


def redact(uri: str) -> str:
    """`uri` fit to print: user and password masked, and any option that may hold a
    secret. Masks too much rather than too little when the URI is malformed."""
    parts = uri_parts(uri)
    scheme = f"{parts.scheme}://" if "://" in uri else ""
    head = parts.hosts + ("/" if parts.slash else "") + parts.path
    options = parts.options
    if parts.userinfo:
        head = ("***:***" if ":" in parts.userinfo else "***") + "@" + head
    elif "@" in options:
        # No "@" before the options, one after: a password holding a bare "?".
        return scheme + "***@" + options.rpartition("@")[2]
    if parts.question:
        pieces = re.split(r"([&;])", options)
        for i, piece in enumerate(pieces):
            key, eq, _value = piece.partition("=")
            if eq and _SECRET_OPTION.search(key):
                pieces[i] = f"{key}=***"
        options = "?" + "".join(pieces)
    return scheme + head + options


def resolve_uri(uri: str | None) -> str | None:
    """The URI given, else $GODO_MONGO_URI, else None (the embedded FerretDB)."""
    return uri or os.environ.get("GODO_MONGO_URI") or None
