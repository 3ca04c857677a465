"""godo's command line: a testable `main(argv) -> int` behind a thin entry point.

Errors a user can meet become one line on stderr and a non-zero exit, never a
traceback: 1 for a failure, 2 for a usage or configuration error.

- `parser`: the commands and flags; `settings`: flags, environment, config file.
- `record`: `record` and `replay`; `query`: `tree`, `files`, `containers`;
  `runs`: `runs` and `prune`; `hosts`; `export`; `status`; `views`: how documents
  are shown.
"""

from __future__ import annotations

import os
import signal
import sys

from .. import __version__
from ..errors import GodoError
from . import parser as parser_mod


def main(argv: list[str] | None = None) -> int:
    parser = parser_mod.build(parser_mod.command_in(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except parser_mod.UsageError as exc:
        from .output import shown
        print(shown(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.version:
        from ..twins import mode
        print(f"godo {__version__} ({mode()})")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    # SIGTERM unwinds like Ctrl-C, so that what godo started (the embedded FerretDB,
    # in a session of its own) is stopped and what it holds is flushed. `record`
    # puts its own handler in while it records. Only the main thread may (main
    # called from another thread, as a test may, leaves signals alone).
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        main_thread = True
    except ValueError:
        previous, main_thread = None, False
    try:
        return _command(args.command)(args)
    except GodoError as exc:
        from .output import shown
        # Errors name what the user gave and what the host holds: one safe line.
        print(f"godo: {shown(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("godo: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except _Terminated:
        print("godo: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # `godo export | head`: the reader left; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The `godo` command (console script, `python -m godo`): `main`, then, when godo
    has nothing left running (no other thread), its exit handlers, its output
    flushed, and an exit that skips the interpreter's teardown: freeing every object
    and module one at a time is 5-8 ms of CPU, a seventh of a short command's."""
    status = main()
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(status)
    import atexit
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)  # the interpreter's own exit says what went wrong
    os._exit(status or 0)


class _Terminated(BaseException):
    """SIGTERM, raised where the main thread is (a BaseException, as
    KeyboardInterrupt is, so that no `except Exception` swallows it)."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated("stopped by SIGTERM")


def _store_command(args) -> int:
    if args.store_command == "serve":
        from .serve import cmd_store_serve
        return cmd_store_serve(args)
    from .install import cmd_store_setup
    return cmd_store_setup(args)


def _command(name: str):
    """The function that runs a command; its module is imported only when it runs."""
    if name in ("record", "replay"):
        from . import record
        return {"record": record.cmd_record, "replay": record.cmd_replay}[name]
    if name in ("tree", "files", "containers"):
        from . import query
        return {"tree": query.cmd_tree, "files": query.cmd_files,
                "containers": query.cmd_containers}[name]
    if name in ("runs", "prune"):
        from . import runs
        return {"runs": runs.cmd_runs, "prune": runs.cmd_prune}[name]
    if name == "hosts":
        from .hosts import cmd_hosts
        return cmd_hosts
    if name == "export":
        from .export import cmd_export
        return cmd_export
    if name == "store":
        return _store_command
    if name == "install-service":
        from .install import cmd_install_service
        return cmd_install_service
    from .status import cmd_status
    return cmd_status
