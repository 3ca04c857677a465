"""Every setting of godo, one row each: where it is read from (a flag, an
environment variable, a key of the config file), its type, its default and its
help. From this table are made:

- the config file's validation (`config.load`);
- the flags that carry a setting (`cli/parser.py`, through `add_flags`);
- the example config, `godo/data/godo.toml` (a test holds it equal to
  `example_config()`; `python -m godo.settings_table > godo/data/godo.toml`
  writes it anew);
- the options a run takes: `run.live.RecordOptions` has one attribute per row
  whose `target` is "record", the store one keyword per row whose `target` is
  "store" (`options`).

A new setting is one row here, and its use. A flag wins over the environment,
which wins over the config file, which wins over the default (`value`).

Only the commands that read settings import this module: `godo --version` does not.
"""

from __future__ import annotations

import os

from . import config as config_mod

SCOPES = ("containers", "host", "pid")

_TOML_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list"}


class Setting:
    """One row: `section`.`key` in the config file (None: not in the file), `flag`
    (None: none) in the flag group `group` ("common": every command that reads
    settings; "record": `godo record`; a new group is a name its command's parser
    passes to `add_flags`), `env` (None: none). `kind` is its type in
    the file; `check` = (test, what it wants) refuses values of that type the
    setting cannot take; `parse` makes the value a run uses of the one written
    (an age "30d" becomes a timedelta). `default` is written as the file writes
    it (None: unset; `example` is then shown, commented out, in the example
    config). `target`: which run options it is, "record" or "store" (None: the
    command reads it itself)."""

    __slots__ = ("section", "key", "kind", "default", "help", "flag", "group", "env", "check",
                 "choices", "parse", "metavar", "example", "target")

    def __init__(self, section: str | None, key: str | None, kind: type, default, help: str, *,
                 flag: str | None = None, group: str = "record", env: str | None = None,
                 check: tuple | None = None, choices: tuple | None = None, parse=None,
                 metavar: str | None = None, example=None, target: str | None = None) -> None:
        self.section, self.key, self.kind, self.default, self.help = section, key, kind, default, help
        self.flag, self.group, self.env, self.choices, self.parse = flag, group, env, choices, parse
        self.metavar, self.example, self.target = metavar, example, target
        if choices is not None and check is None:
            check = (lambda v: v in choices, " or ".join(choices))
        self.check = check

    @property
    def name(self) -> str:
        """How the config file names it (`store.keep`), else its flag or variable."""
        return f"{self.section}.{self.key}" if self.key else (self.flag or self.env or "?")

    @property
    def dest(self) -> str | None:
        """The attribute argparse keeps the flag's value in."""
        return self.flag[2:].replace("-", "_") if self.flag else None

    def wants(self) -> str:
        return self.check[1] if self.check is not None else _TOML_TYPES[self.kind]

    def refusal(self, value) -> str | None:
        """Why `value` (of the file's types) cannot be this setting; None: it can."""
        if self.kind is float and type(value) is int:
            value = float(value)
        if type(value) is not self.kind:
            return f"must be {_TOML_TYPES[self.kind]}, not {value!r}"
        if self.check is not None and not self.check[0](value):
            return f"must be {self.check[1]}, not {value!r}"
        return None

    def from_text(self, text: str):
        """The value of a flag's or a variable's text; ValueError says why not."""
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(f"{text!r} is not true or false")
            value = lowered in ("1", "true", "yes")
        elif self.kind in (int, float):
            try:
                value = self.kind(text)
            except ValueError:
                raise ValueError(f"{text!r} is not {self.wants()}") from None
        elif self.kind is str:
            value = text
        else:
            raise ValueError(f"{self.name} cannot be given as text")
        if self.check is not None and not self.check[0](value):
            if self.parse is not None:
                self.parse(value)  # its own words for what is wrong (an age's)
            raise ValueError(f"{text!r} is not {self.wants()}")
        return self.used(value)

    def used(self, value):
        """What a run uses of a value of the file's type (None stays None)."""
        return value if value is None or self.parse is None else self.parse(value)


def _positive(v) -> bool:
    return v > 0


def _non_negative(v) -> bool:
    return v >= 0


POSITIVE = (_positive, "a number above 0")
NON_NEGATIVE = (_non_negative, "a number of 0 or more")
AGE = (config_mod.is_duration, "an age like 12h, 30d or 8w")
PIDS = (lambda v: all(type(p) is int and p > 0 for p in v), "a list of pids")

# The sections of the file, in order, with what each is about (the example's comments).
SECTIONS = {
    "record": "What `godo record` records, and how.",
    "rules": "The kernel's side: the audit rules and backlog while godo records.",
    "store": "Where documents go, how they are written, how long they are kept.",
}

SETTINGS: tuple[Setting, ...] = (
    Setting(None, None, str, None,
            f"config file (default: ${config_mod.CONFIG_ENV}, else {config_mod.DEFAULT_PATH} if "
            "present)", flag="--config", group="common", env=config_mod.CONFIG_ENV,
            metavar="PATH"),
    Setting("record", "scope", str, "containers",
            'what `godo record` records when no command is given: "containers" (every process '
            'that descends from a container runtime shim), "host" (every process), or "pid" '
            "(the subtree of `pid`)", flag="--scope", choices=SCOPES),
    Setting("record", "pid", int, None, 'with scope "pid": the root of the subtree',
            flag="--pid", check=POSITIVE, example=1234),
    Setting("record", "multicast", bool, False,
            "read-only, beside another audit daemon (auditd) that owns the stream",
            flag="--multicast", target="record"),
    Setting("record", "raw_log", str, None,
            "also append every record to this file, RAW format (needs ReadWritePaths= under "
            "systemd)", flag="--raw-log", metavar="FILE", example="/var/log/godo/audit.raw",
            target="record"),
    Setting("record", "raw_log_keep", int, 5,
            "raw logs kept, the one written included (auditd's num_logs): SIGUSR1, or passing "
            "raw_log_max_mb, renames audit.raw to audit.raw.1 and so on",
            check=NON_NEGATIVE, target="record"),
    Setting("record", "raw_log_max_mb", int, 0,
            "rotate the raw log past this size, in MiB (0: only on SIGUSR1)",
            check=NON_NEGATIVE, target="record"),
    Setting("record", "checkpoint_interval", float, 30.0,
            "how often long-lived processes and open files are written out, in seconds",
            check=POSITIVE, target="record"),
    Setting("record", "priority_boost", int, 4,
            "how much higher the live thread's priority is than godo's own (its nice value "
            "lowered by this much, as auditd's priority_boost): when the CPUs are short, the "
            "kernel's stream is read first; 0 leaves the priority alone",
            flag="--priority-boost", check=NON_NEGATIVE, target="record"),
    Setting("rules", "exclude_pids", list, [],
            "processes whose own syscalls are never audited (godo and its local database are "
            "always left out)", check=PIDS, target="record"),
    Setting("rules", "backlog", int, 65536,
            "the kernel's audit backlog limit while godo records", flag="--backlog",
            check=POSITIVE, target="record"),
    Setting("rules", "backlog_wait", int, 0,
            "how long a process may wait for room in the kernel's backlog (its "
            "backlog_wait_time; 0: never slow the monitored workload down, lost records are "
            "counted)", flag="--backlog-wait", check=NON_NEGATIVE, target="record"),
    Setting("store", "uri", str, None,
            "a MongoDB URI (a replica set, a sharded cluster); unset: godo's embedded FerretDB, "
            "with its files in data_dir", flag="--mongo", group="common", env="GODO_MONGO_URI",
            metavar="URI", example="mongodb://godo:secret@db1.example,db2.example/godo?replicaSet=rs0"),
    Setting("store", "postgresql", str, None,
            "a fleet's PostgreSQL cluster, written through this host's own FerretDB: "
            "postgres://USER@H1:P1,H2:P2/DB (instead of uri)", flag="--postgresql",
            group="common", env="GODO_POSTGRESQL_URL", metavar="URL",
            check=(lambda v: v.startswith(("postgres://", "postgresql://")),
                   "a URL like postgres://USER@HOST:PORT,HOST:PORT/DB"),
            example="postgres://godo:secret@db1.example:5432,db2.example:5432/godo"),
    Setting("store", "data_dir", str, None,
            "the data directory godo writes in (unset: /var/lib/godo for root, else "
            "~/.local/share/godo)",
            env="GODO_DATA_DIR", example="/var/lib/godo"),
    Setting("store", "batch_size", int, 1000, "documents per bulk write", check=POSITIVE,
            target="store"),
    Setting("store", "flush_interval", float, 1.0,
            "the longest a document waits for a bulk write, in seconds", check=POSITIVE,
            target="store"),
    Setting("store", "max_queued", int, 100_000,
            "document writes that may wait in memory while the database is slow (more go to "
            "the spill journal)", check=POSITIVE, target="store"),
    Setting("store", "keep", str, None,
            "retention: the recording godo removes the runs (with their processes, files and "
            "containers documents) that ended longer ago than this age (30d, 12h), at start and "
            "then hourly (unset: keep everything)", flag="--keep", metavar="AGE", check=AGE,
            parse=config_mod.parse_duration, example="30d"),
)

# The settings the file can hold, by (section, key); a flag-only row (`--config`)
# is read by its command itself.
BY_NAME: dict[tuple[str, str], Setting] = {(s.section, s.key): s for s in SETTINGS
                                           if s.key is not None}


def in_file() -> dict[str, dict[str, Setting]]:
    """section -> key -> Setting, for every setting the config file can hold."""
    schema: dict[str, dict[str, Setting]] = {section: {} for section in SECTIONS}
    for row in SETTINGS:
        if row.key is not None:
            schema[row.section][row.key] = row
    return schema


# -- what a command reads -----------------------------------------------------------------

def value(args, cfg, section: str, key: str):
    """A setting as a run uses it: its flag when given, else its environment
    variable, else the config file `cfg`, else the default."""
    row = BY_NAME[(section, key)]
    if row.dest is not None:
        given = getattr(args, row.dest, None)
        if given is not None and given != "":
            return given
    if row.env is not None:
        text = os.environ.get(row.env)
        if text:
            try:
                return row.from_text(text)
            except ValueError as exc:
                raise config_mod.ConfigError(f"${row.env}: {exc}") from None
    return row.used(cfg.get(section, key, row.default))


def options(args, cfg, target: str) -> dict:
    """The options of `target` ("record", "store"): key -> value, for each of its rows."""
    return {row.key: value(args, cfg, row.section, row.key)
            for row in SETTINGS if row.target == target}


def defaults(target: str) -> dict:
    """key -> default, as a run uses it, for each row of `target`."""
    return {row.key: row.used(_copy(row.default)) for row in SETTINGS if row.target == target}


def _copy(default):
    return list(default) if isinstance(default, list) else default


# -- the flags -----------------------------------------------------------------------------

def add_flags(parser, group: str) -> None:
    """The flags of the settings in `group`, each with its help, its default and
    its config key said; a value given is checked as the file's would be. argparse
    keeps None for a flag not given, so the environment and the file get their say."""
    import argparse
    for row in SETTINGS:
        if row.flag is None or row.group != group:
            continue
        where = [f"${row.env}"] if row.env and row.key else []
        where += [f"[{row.section}] {row.key}"] if row.key else []
        if row.default not in (None, []):
            where.append(f"default {_shown(row.default)}")
        text = row.help + (f" ({'; '.join(where)})" if where else "")
        if row.kind is bool:
            parser.add_argument(row.flag, action=argparse.BooleanOptionalAction, help=text)
        elif row.choices is not None:
            parser.add_argument(row.flag, choices=row.choices, help=text)
        else:
            parser.add_argument(row.flag, type=_flag_type(row), help=text,
                                metavar=row.metavar or ("N" if row.kind in (int, float) else None))


def _flag_type(row: Setting):
    import argparse

    def read(text: str):
        try:
            return row.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    read.__name__ = row.kind.__name__  # argparse names the type in its errors
    return read


def _shown(value) -> str:
    """A default as the config file writes it (true, not True)."""
    return _toml(value).strip('"')


# -- the example config --------------------------------------------------------------------

_HEAD = """\
# /etc/godo/godo.toml: godo's configuration. Every key is optional; flags on
# the command line override it. godo refuses this file if anyone but root (or
# the user running godo) can write it or the directory it is in.
#
# Made from godo/settings_table.py (python -m godo.settings_table): edit the table."""


def example_config() -> str:
    """The example config file: every setting of the file, with its help as a
    comment, set to its default (or, with none, its example commented out)."""
    out = [_HEAD]
    for section, about in SECTIONS.items():
        out.append(f"\n[{section}]\n{_comment(about)}")
        for row in in_file()[section].values():
            out.append("\n" + _comment(row.help[:1].upper() + row.help[1:] + "."))
            if row.default is not None:
                out.append(f"{row.key} = {_toml(row.default)}")
            else:
                out.append(f"# {row.key} = {_toml(row.example)}")
    return "\n".join(out) + "\n"


def _comment(text: str, width: int = 80) -> str:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    lines.append(line)
    return "\n".join(lines)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if '"' in value or "\\" in value:
            raise ValueError(f"an example string the table cannot write: {value!r}")
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


if __name__ == "__main__":
    print(example_config(), end="")
