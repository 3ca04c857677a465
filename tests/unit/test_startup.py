"""Start-up: a command imports what it uses, and the parser it builds for one
command reads that command's flags as the whole parser does. (How fast is
measured by benchmarks/replay.py, never asserted here.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from godo.cli import parser as parser_mod
from godo.vocab import records as C
from godo.twins import TWINS

# What a command that neither writes JSON nor talks to a database or a terminal
# has no use for: each costs milliseconds to import.
HEAVY = ("orjson", "dataclasses", "inspect", "pymongo", "bson", "rich", "uuid", "typing",
         "pathlib", "gzip", "shutil", "threading")


def _imported_by(argv: list[str], tmp_path) -> set[str]:
    """The modules loaded by running `godo ARGV` in a fresh interpreter."""
    code = ("import sys\nfrom godo.cli import main\n"
            f"status = main({argv!r})\n"
            "print(' '.join(sorted(sys.modules)))\nsys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env={"GODO_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("argv", [["--version"], ["replay", "--store", "null", "{empty}"]])
def test_a_command_imports_nothing_it_does_not_use(argv, tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    modules = _imported_by([a.format(empty=empty) for a in argv], tmp_path)
    assert "godo" in modules
    assert sorted(m for m in HEAVY if m in modules) == []


def test_the_version_still_loads_every_compiled_twin(tmp_path):
    # --version says whether godo runs accelerated: it must have tried every twin.
    modules = _imported_by(["--version"], tmp_path)
    assert {compiled for compiled, _pure in TWINS.values()} <= modules


@pytest.mark.parametrize("argv", [
    [], ["--version"], ["-h"], ["--version", "-h"], ["bogus"],
    ["replay", "x.log"], ["--version", "replay", "x"],
    ["record", "--scope", "host", "--store", "null", "--", "sh", "-c", "true"],
])
def test_command_in_names_the_command_or_none(argv):
    expected = {(): None, ("--version",): "", ("-h",): None, ("--version", "-h"): None,
                ("bogus",): None}.get(tuple(argv), next((a for a in argv if not a.startswith("-")), None))
    assert parser_mod.command_in(argv) == expected


@pytest.mark.parametrize("argv", [
    ["record", "--scope", "pid", "--pid", "7", "--backlog", "8192", "--raw-log", "f", "--", "ls", "-l"],
    ["record", "--no-multicast", "--store", "null", "--config", "c.toml"],
    ["replay", "--jsonl", "--scope", "containers", "--host", "h", "x.log"],
    ["tree", "--run", "r", "--pid", "3", "--runtime", "--json", "--limit", "5", "--since", "2024-05-01"],
    ["files", "--written", "--path", "/etc/*", "--container", "c", "--until", "1d"],
    ["containers", "--json", "--mongo", "mongodb://x/"],
    ["export", "--format", "ecs", "--collection", "files", "-o", "out"],
    ["status", "--json"],
    ["store", "setup"],
    ["install-service", "--root", "/tmp/x", "--print"],
    ["--version"],
])
def test_the_parser_built_for_one_command_reads_it_as_the_whole_parser(argv):
    whole = vars(parser_mod.build().parse_args(argv))
    alone = vars(parser_mod.build(parser_mod.command_in(argv)).parse_args(argv))
    for times in ("since", "until"):  # a relative time is read against the clock, twice
        if whole.get(times) is not None and argv[argv.index(f"--{times}") + 1][-1] == "d":
            assert abs((whole.pop(times) - alone.pop(times)).total_seconds()) < 60
    assert alone == whole


def test_every_command_has_its_builder():
    assert set(parser_mod.COMMANDS) == set(parser_mod._COMMAND_BUILDERS)
    whole = parser_mod.build()
    sub = next(a for a in whole._actions if a.dest == "command")
    assert list(sub.choices) == list(parser_mod.COMMANDS)


def test_the_compiled_multi_record_table_agrees_with_the_contract():
    """The compiled parser fills its table of multi-record types from the contract's
    range alone: every type number outside it must be a whole event on its own."""
    assert all(not C.is_multi_record(n) for n in range(0, C.MULTI_FIRST))
    assert all(not C.is_multi_record(n) for n in range(C.MULTI_END, 1 << 16))


@pytest.mark.parametrize("rtype", [1005, 1299, 1300, 1319, 1320, 1321, 1337, 1499, 1500, 2000, 65535])
def test_a_record_waits_for_its_event_exactly_when_the_contract_says(twin, rtype):
    pipeline = twin.Pipeline()
    pipeline.feed_log(f"type=UNKNOWN[{rtype}] msg=audit(1700000000.000:7): x=1\n".encode(), "t")
    # One part of a syscall event is held for the rest of it; a whole one is not.
    assert pipeline.stats()["in_flight"] == (1 if C.is_multi_record(rtype) else 0)


def _godo_exits(code: str) -> subprocess.CompletedProcess:
    """`run()`, the godo command's entry point, in a fresh interpreter after `code`."""
    return subprocess.run([sys.executable, "-c", code + "\nfrom godo.cli import run\nrun()"],
                          capture_output=True, text=True)


def test_the_command_exits_with_main_s_status_after_its_exit_handlers():
    # run() skips the interpreter's teardown: what main printed, the exit handlers
    # and the status must survive that.
    done = _godo_exits("import atexit, sys\natexit.register(print, 'handler ran')\n"
                       "sys.argv = ['godo', '--version']")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("godo ")
    assert done.stdout.splitlines()[-1] == "handler ran"
    done = _godo_exits("import sys\nsys.argv = ['godo', 'replay', '--store', 'null', '/nonexistent.log']")
    assert done.returncode != 0
    assert done.stderr.startswith("godo: ") and "/nonexistent.log" in done.stderr


def test_the_command_waits_for_a_thread_still_running():
    # Another thread still working: the interpreter's own exit, which waits for it.
    done = _godo_exits("import sys, threading, time\n"
                       "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
                       "sys.argv = ['godo', '--version']")
    assert done.returncode == 0, done.stderr
    assert "thread done" in done.stdout
