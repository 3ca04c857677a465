"""godo's configuration file (TOML), and the times users type.

The file is `--config PATH`, else `$GODO_CONFIG`, else `/etc/godo/godo.toml` when it
exists. Every key is optional; a flag given on the command line wins over the file.
The file says where godo writes and what the kernel audits, so one that anybody but
root (or the user running godo) can change is refused, as is one in a directory
that others can write into.

What the file may hold, key by key, is the settings table (`settings_table.py`);
`godo/data/godo.toml` is the example made from it.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timedelta, timezone

from .errors import ConfigError
from .paths import check_owned, check_parents

DEFAULT_PATH = "/etc/godo/godo.toml"
CONFIG_ENV = "GODO_CONFIG"


class Config:
    """What a config file said: `values[(section, key)]`, and where it came from.
    (A plain class: `dataclasses` would cost every command's start-up.)"""

    def __init__(self, path: str | None = None,
                 values: dict[tuple[str, str], object] | None = None) -> None:
        self.path = path
        self.values = {} if values is None else values

    def __eq__(self, other) -> bool:
        return isinstance(other, Config) and (self.path, self.values) == (other.path, other.values)

    def __repr__(self) -> str:
        return f"Config(path={self.path!r}, values={self.values!r})"

    def get(self, section: str, key: str, default=None):
        return self.values.get((section, key), default)


def config_path(given: str | None) -> str | None:
    """The file to read: the one given, else $GODO_CONFIG, else the default if present."""
    if given:
        return given
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return from_env
    return DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None


def load(given: str | None = None) -> Config:
    """Read and check the config file; ConfigError names the file and what is wrong."""
    path = config_path(given)
    if path is None:
        return Config()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        # Checked on the open file, so the file read is the file checked.
        _check_owner(path, os.fstat(fd))
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read()
    except IsADirectoryError:
        raise ConfigError(f"cannot read config {path}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    import tomllib  # only when there is a file: every command starts without it
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: invalid TOML: {exc}") from None
    return Config(path, _validate(path, data))


def _check_owner(path: str, st: os.stat_result) -> None:
    """The file read (`st`, of the open file) and every directory above it, and
    above the link when `path` is a symlink, no one's but root's or ours to
    change: a symlink out of a safe directory into a 0777 one is refused."""
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(path)
    check_owned(path, st, "config")
    check_parents(path, "config")
    real = os.path.realpath(path)
    if real != os.path.abspath(path):
        check_parents(real, f"config {path} (a link to {real}):")


def _validate(path: str, data: dict) -> dict[tuple[str, str], object]:
    from .settings_table import SECTIONS, in_file
    schema_of = in_file()
    values = {}
    for section, table in data.items():
        schema = schema_of.get(section)
        if schema is None:
            raise ConfigError(f"config {path}: unknown section [{section}] "
                              f"(known: {', '.join(f'[{s}]' for s in SECTIONS)})")
        if not isinstance(table, dict):
            raise ConfigError(f"config {path}: `{section}` must be a [{section}] table")
        for key, value in table.items():
            if key not in schema:
                raise ConfigError(f"config {path}: unknown key {section}.{key} "
                                  f"(known: {', '.join(schema)})")
            refused = schema[key].refusal(value)
            if refused is not None:
                raise ConfigError(f"config {path}: {section}.{key} {refused}")
            values[(section, key)] = float(value) if schema[key].kind is float else value
    scope = values.get(("record", "scope"))
    if scope == "pid" and ("record", "pid") not in values:
        raise ConfigError(f'config {path}: record.scope = "pid" needs record.pid')
    return values


# -- times ---------------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `8w`...: how long a retention keeps things (as --since reads ages)."""
    match = _RELATIVE.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"cannot read {text!r} as an age: give one like 12h, 30d or 8w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from what a user typed for --since/--until.

    `10m`, `2h`, `1d`, `30s`, `1w` mean that long ago (ausearch's habit); `now`,
    `today` and `yesterday` (local midnight); else ISO 8601, `2024-05-01`,
    `2024-05-01T12:00`, `2024-05-01 12:00:05+02:00`, local time unless it says."""
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    lowered = value.lower()
    match = _RELATIVE.fullmatch(lowered)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if lowered == "now":
        return now
    if lowered in ("today", "yesterday"):
        midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        if lowered == "yesterday":
            midnight -= timedelta(days=1)
        return midnight.astimezone(timezone.utc)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith(("Z", "z"))
                                       else value)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: give ISO 8601 "
                         "(2024-05-01T12:00) or an age (10m, 2h, 1d)") from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # a local time, as the user's clock shows it
    return stamp.astimezone(timezone.utc)
