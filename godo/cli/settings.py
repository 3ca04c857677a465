"""Settings of one command: flags, then the environment, then the config file;
and the store or database they name."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from .. import config as config_mod
from ..errors import ConfigError
from ..paths import data_dir as default_data_dir
from ..paths import private_dir

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path


def __getattr__(name: str):
    """`JSON_OPTIONS`, orjson's options for documents: dates in UTC with a `Z`
    (pymongo hands back naive UTC datetimes). Made on first use, so that a command
    that prints no JSON starts without orjson (which imports json, uuid and
    dataclasses)."""
    if name == "JSON_OPTIONS":
        import orjson
        return orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def config(args) -> config_mod.Config:
    """The config file the command names (read once per command)."""
    cfg = getattr(args, "cfg", None)
    if cfg is None:
        cfg = args.cfg = config_mod.load(args.config)
    return cfg


def setting(args, section: str, key: str):
    """A setting of the table (godo/settings_table.py) as this command has it: its
    flag, else its environment variable, else the config file, else its default."""
    from ..settings_table import value
    return value(args, config(args), section, key)


def options(args, target: str) -> dict:
    """The options of a run ("record") or of its store ("store"), from the table."""
    from ..settings_table import options as made
    return made(args, config(args), target)


def store_urls(args) -> tuple[str | None, str | None]:
    """(MongoDB URI, PostgreSQL URL): flags, else the environment ($GODO_MONGO_URI,
    $GODO_POSTGRESQL_URL), else the config's `[store] uri` or `postgresql`; the
    first of these that names one wins, and naming both at once is an error.
    (None, None): the embedded FerretDB."""
    from ..settings_table import BY_NAME
    cfg = config(args)
    uri, postgresql = BY_NAME[("store", "uri")], BY_NAME[("store", "postgresql")]
    levels = (("flags", getattr(args, uri.dest, None), getattr(args, postgresql.dest, None)),
              ("environment", os.environ.get(uri.env), os.environ.get(postgresql.env)),
              (f"config {cfg.path}", cfg.get("store", "uri"), cfg.get("store", "postgresql")))
    for where, mongo, pg in levels:
        if mongo and pg:
            raise ConfigError(f"both a MongoDB URI and a PostgreSQL URL in the {where}: give one")
        if mongo or pg:
            return mongo or None, pg or None
    return None, None


def mongo_uri(args) -> str | None:
    """The MongoDB URI the command names (see `store_urls`); None: a FerretDB of godo's."""
    return store_urls(args)[0]


def postgresql_url(args) -> str | None:
    """The PostgreSQL URL of a fleet's cluster the command names (see `store_urls`)."""
    return store_urls(args)[1]


def data_dir(args, *, create: bool = False) -> Path:
    """The data directory, checked; made only by a command that writes (`create`)."""
    configured = setting(args, "store", "data_dir")
    if configured:
        from pathlib import Path  # here: see godo/paths.py
        return private_dir(Path(os.path.abspath(configured)), create=create)
    return default_data_dir(create=create)


def database_name(uri: str | None) -> str:
    """The database a URI names (mongodb://host/NAME), else godo's default `godo`.

    Read from the text: pymongo's parser would resolve a mongodb+srv:// name in DNS
    here, before there is a client to report a failure as a connection error."""
    from ..store.schema import DEFAULT_DATABASE
    from ..store.uri import redact, uri_parts
    if not uri:
        return DEFAULT_DATABASE
    parts = uri_parts(uri)
    if "://" not in uri or parts.scheme not in ("mongodb", "mongodb+srv"):
        raise ConfigError(f"invalid database URI {redact(uri)}: it must begin with "
                          "'mongodb://' or 'mongodb+srv://'")
    name = parts.database
    # mongodb://user:pw@host/admin names the database to log in to, not one to fill.
    return name if name and name not in ("admin", "local", "config") else DEFAULT_DATABASE


def _null(args) -> bool:
    return getattr(args, "store", "mongo") == "null"


@contextmanager
def store(args):
    """The store a run writes into (`--store null`: none), open for the block."""
    from ..store.opening import open_store
    if _null(args):  # no database: nothing of it is named, made or checked
        with open_store(None, "", null=True) as opened:
            yield opened
        return
    uri, postgresql = store_urls(args)
    with open_store(uri, data_dir(args, create=True), database=database_name(uri),
                    postgresql=postgresql, **options(args, "store")) as opened:
        yield opened


def where(args) -> str:
    """The store, said the way a user would recognise it (no credentials)."""
    from ..store.uri import redact
    if _null(args):
        return "no database (--store null)"
    uri, postgresql = store_urls(args)
    if postgresql:
        return f"PostgreSQL {redact(postgresql)} through this host's FerretDB"
    return redact(uri) if uri else f"the embedded FerretDB in {data_dir(args)}"


@contextmanager
def database(args):
    """The database to query, open for the block."""
    from ..store.opening import database as open_database
    uri, postgresql = store_urls(args)
    with open_database(uri, data_dir(args), name=database_name(uri), postgresql=postgresql) as db:
        yield db


def encode_other(value):
    """What orjson cannot write itself (bytes, ObjectId...), as a string."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def on_terminal() -> bool:
    """Whether stderr is a terminal (progress bars go there, and only there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
