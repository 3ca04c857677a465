"""godo's command line as argparse sees it: every command, flag and help text."""

from __future__ import annotations

import argparse

from .. import config as config_mod
from ..store.schema import COLLECTIONS
from .output import columns


class UsageError(Exception):
    pass


class _Help(argparse.HelpFormatter):
    """argparse's help, as wide as the terminal (output.columns): argparse makes a
    formatter for every flag it is given (to check the flag's metavar), and its own
    way to the width imports shutil into every command (2 ms of a replay's start-up)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position,
                         columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and a return value, not an exit."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


CONTAINER_HELP = "a container's name, its id, or a unique start of its id"
RUNTIME_HELP = ("also the container runtimes' own processes (shims, runc, conmon) and their "
                "files, hidden by default")

def _time_arg(text: str):
    try:
        return config_mod.parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _host_arg(text: str) -> str:
    from ..paths import is_host_name
    if not is_host_name(text):
        raise argparse.ArgumentTypeError(
            f"{text[:64]!r} is not a host name (letters, digits, '.', '-', '_', ':', "
            "at most 253)")
    return text
def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


COMMANDS = ("record", "replay", "tree", "files", "containers", "export", "runs", "hosts",
            "prune", "status", "store", "install-service")


def command_in(argv: list[str]) -> str | None:
    """The command `argv` names, when it names one godo has: the first word that is
    no flag (godo's own flags, --version and --help, take no value). "" for
    `--version` alone: no command's flags are needed."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return "" if "--version" in argv and not {"-h", "--help"} & set(argv) else None


class _Parents:
    """The flags commands share, each set made when a command first asks for it."""

    def __getattr__(self, name: str) -> argparse.ArgumentParser:
        if name.startswith("_"):
            raise AttributeError(name)
        parser = _Parser(add_help=False)
        getattr(self, f"_make_{name}")(parser)
        setattr(self, name, parser)
        return parser

    @staticmethod
    def _make_common(common) -> None:
        from ..settings_table import add_flags
        add_flags(common, "common")  # --config, --mongo

    @staticmethod
    def _make_null_store(null_store) -> None:
        null_store.add_argument("--store", choices=("mongo", "null"), default="mongo",
                                help="`null` runs the whole pipeline without a database")

    @staticmethod
    def _make_window(window) -> None:
        window.add_argument("--since", type=_time_arg, metavar="T",
                            help="active at or after T: ISO time, or an age like 10m, 2h, 1d")
        window.add_argument("--until", type=_time_arg, metavar="T", help="active at or before T")

    @staticmethod
    def _make_as_json(as_json) -> None:
        as_json.add_argument("--json", action="store_true", help="documents as JSON lines")

    @staticmethod
    def _make_runs(runs) -> None:
        which = runs.add_mutually_exclusive_group()
        which.add_argument("--run", metavar="ID", help="only this run: its id, or its start or end "
                           "(default: every run)")
        which.add_argument("--latest", action="store_true",
                           help="only the latest run (the last live one, else the last replay)")

    @staticmethod
    def _make_host(host) -> None:
        # A selection, as --run is (not a setting): no config key, no environment.
        host.add_argument("--host", metavar="NAME", type=_host_arg,
                          help="only what this host recorded, in a store many hosts write to "
                          "(see godo hosts)")

    @staticmethod
    def _make_wide(wide) -> None:
        wide.add_argument("--wide", action="store_true",
                          help="argv and paths whole, nothing cut or left out (rows may be long)")

    @staticmethod
    def _make_limit(limit) -> None:
        limit.add_argument("--limit", type=_count_arg, metavar="N",
                           help="at most N rows, in the listing's order (stderr says when more match)")


def build(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only` (see `command_in`), that command alone:
    argparse makes a parser per command and a help formatter per flag, a few ms a
    command, which every godo command would pay for all the others."""
    parser = _Parser(
        prog="godo", description="Record which processes ran, from which parent, with which "
        "arguments, and which files they opened and wrote, from the kernel's audit stream.")
    parser.add_argument("--version", action="store_true", help="print the version and hot-path mode")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = _Parents()
    for name in COMMANDS if only is None else (only,) if only else ():
        _COMMAND_BUILDERS[name](sub, parents)
    return parser


def _record(sub, p: _Parents) -> None:
    rec = sub.add_parser("record", parents=[p.common, p.null_store], help="record live from the kernel's audit stream",
                         description="Record a command's process tree and files (`godo record -- CMD`), "
                         "or, with no command, run as a daemon until SIGTERM.")
    from ..settings_table import add_flags
    add_flags(rec, "record")  # --scope, --pid, --multicast, --backlog, --raw-log, --keep ...
    rec.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")


def _replay(sub, p: _Parents) -> None:
    rep = sub.add_parser("replay", parents=[p.common, p.null_store],
                         help="read an audit.log (RAW/ENRICHED, plain or gzip)")
    rep.add_argument("--jsonl", action="store_true", help="print cooked events as JSON lines")
    rep.add_argument("--scope", choices=("containers", "host"), default="host")
    rep.add_argument("--host", metavar="NAME", type=_host_arg, help="the host the run and its documents name "
                     "(default: the log's node=NAME, else this machine)")
    rep.add_argument("log", help="the audit.log to read")


def _tree(sub, p: _Parents) -> None:
    tree = sub.add_parser("tree", parents=[p.common, p.host, p.runs, p.window, p.as_json, p.limit,
                                                    p.wide],
                          help="the recorded process tree",
                          description="Processes as a tree, grouped by run and container. With "
                          "no selection, every run (the newest 1000 processes unless --limit).")
    tree.add_argument("--container", help=CONTAINER_HELP)
    tree.add_argument("--pid", type=int, help="the subtree of this pid")
    tree.add_argument("--runtime", action="store_true", help=RUNTIME_HELP)


def _files(sub, p: _Parents) -> None:
    files = sub.add_parser("files", parents=[p.common, p.host, p.runs, p.window, p.as_json, p.limit,
                                                      p.wide],
                           help="files each process opened and wrote",
                           description="Open file descriptions, like lsof after the fact. With no "
                           "selection, every run (the newest 1000 files unless --limit).")
    files.add_argument("--container", help=CONTAINER_HELP)
    files.add_argument("--runtime", action="store_true", help=RUNTIME_HELP)
    files.add_argument("--pid", type=int, help="only this pid")
    files.add_argument("--written", action="store_true", help="only files written to")
    files.add_argument("--path", metavar="GLOB", help="only paths matching GLOB (`*` spans `/`); "
                       "a container's files match by their path inside or on the host")


def _containers(sub, p: _Parents) -> None:
    sub.add_parser("containers", parents=[p.common, p.host, p.runs, p.as_json, p.limit, p.wide],
                   help="the containers godo saw",
                   description="Like `docker ps -a`, for what godo recorded in every run.")


def _export(sub, p: _Parents) -> None:
    export = sub.add_parser("export", parents=[p.common, p.host, p.runs], help="documents as Extended JSON or ECS lines, streamed",
                            description="Every document of a collection (default: all four, "
                            "each line tagged with `_collection`), one JSON object a line.")
    export.add_argument("--format", choices=("jsonl", "ecs"), default="jsonl",
                        help="jsonl: MongoDB Extended JSON (relaxed), as mongoimport reads it; "
                        "ecs: one Elastic Common Schema event a document")
    export.add_argument("--collection", choices=COLLECTIONS)
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")



def _runs(sub, p: _Parents) -> None:
    sub.add_parser("runs", parents=[p.common, p.host, p.as_json, p.limit],
                   help="the runs recorded, newest first",
                   description="One row a run: its id (what --run takes), host, mode, start, "
                   "end, status and counts.")


def _hosts(sub, p: _Parents) -> None:
    sub.add_parser("hosts", parents=[p.common, p.as_json, p.limit],
                   help="the hosts that recorded into this store, last seen first",
                   description="One row a host (what --host takes): its runs, when it was first "
                   "and last seen, and its newest run.")


def _prune(sub, p: _Parents) -> None:
    prune = sub.add_parser("prune", parents=[p.common], help="remove runs and every document they wrote",
                           description="Remove runs with their processes, files and containers "
                           "documents; a running run is refused. Prints what was removed.")
    which = prune.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="this run (its id, or its start or end)")
    which.add_argument("--before", type=_time_arg, metavar="T",
                       help="every run that ended before T: ISO time, or an age like 30d")


def _status(sub, p: _Parents) -> None:
    sub.add_parser("status", parents=[p.common, p.host, p.as_json],
                   help="the kernel's audit state, rules, the store and the last run")


def _store(sub, p: _Parents) -> None:
    store = sub.add_parser("store", help="the embedded database: `godo store setup`, `serve`",
                           description="Set up the embedded FerretDB godo runs when no MongoDB "
                           "URI is given.")
    store_sub = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    store_sub.add_parser("setup", help="find FerretDB v1.24.2, else build it with Go into "
                         "~/.cache/godo; check that it answers; print its path")
    store_sub.add_parser("serve", parents=[p.common],
                         help="keep the embedded server up in the foreground and print its URI",
                         description="Run the embedded FerretDB of the data directory (or join "
                         "the one running) until SIGTERM or Ctrl-C, its MongoDB URI on stdout: "
                         "for pymongo and mongosh, and every godo command meanwhile uses it.")


def _install_service(sub, p: _Parents) -> None:
    service = sub.add_parser("install-service", help="install the systemd unit and the config file",
                             description="Write /etc/systemd/system/godo.service, its ExecStart "
                             "naming this godo, and /etc/godo/godo.toml if there is none.")
    service.add_argument("--root", metavar="DIR", help="install under DIR instead of / (a staging tree)")
    service.add_argument("--print", action="store_true", help="print the unit instead of writing it")


_COMMAND_BUILDERS = {"record": _record, "replay": _replay, "tree": _tree, "files": _files,
                     "containers": _containers, "export": _export, "runs": _runs,
                     "hosts": _hosts,
                     "prune": _prune, "status": _status,
                     "store": _store, "install-service": _install_service}
