"""The settings table: the example config, the file's validation, the flags and the
run options are all made from it, and agree with each other and with the store."""

from __future__ import annotations

import argparse
import inspect
import os
from datetime import timedelta

import pytest

from godo import config as config_mod
from godo import settings_table as T
from godo.cli import parser as parser_mod
from godo.cli.parser import UsageError
from godo.errors import ConfigError
from godo.run.live import RecordOptions

EXAMPLE = T.__file__.replace("settings_table.py", "data/godo.toml")


def test_the_shipped_example_config_is_the_one_the_table_makes():
    with open(EXAMPLE) as f:
        shipped = f.read()
    assert shipped == T.example_config(), (
        "godo/data/godo.toml differs from the settings table: "
        "python -m godo.settings_table > godo/data/godo.toml")


def test_the_example_config_reads_back_as_every_default(tmp_path):
    path = tmp_path / "godo.toml"
    path.write_text(T.example_config())
    path.chmod(0o600)
    values = config_mod.load(str(path)).values
    in_file = [row for row in T.SETTINGS if row.key is not None]
    assert values == {(row.section, row.key): row.default for row in in_file
                      if row.default is not None}
    # What is unset has its example, commented out, and the example is a value the
    # setting takes.
    for row in in_file:
        if row.default is None:
            assert f"# {row.key} = " in T.example_config()
            assert row.refusal(row.example) is None, row.name


def test_every_default_is_a_value_its_setting_takes():
    for row in T.SETTINGS:
        if row.default is not None:
            assert row.refusal(row.default) is None, row.name


def test_the_store_options_default_as_the_store_does():
    # The table gives the store every option of its own, so the CLI's defaults are
    # the table's; a store built without them (tests, library use) must agree.
    from godo.store.writer import MongoStore
    parameters = inspect.signature(MongoStore).parameters
    store_rows = [row for row in T.SETTINGS if row.target == "store"]
    assert store_rows
    for row in store_rows:
        assert parameters[row.key].default == row.default, row.name


def test_the_file_is_checked_by_the_table(tmp_path):
    path = tmp_path / "godo.toml"
    for text, said in [("[store]\nmax_queued = 0\n", "store.max_queued must be a number above 0"),
                       ("[rules]\nbacklog = '8'\n", "rules.backlog must be an integer, not '8'"),
                       ("[store]\nkeep = 'forever'\n", "store.keep must be an age like 12h"),
                       ("[record]\nfoo = 1\n", "unknown key record.foo"),
                       ("[storage]\n", "unknown section [storage]")]:
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=r".*" + said.replace("[", r"\[").replace("]", r"\]")):
            config_mod.load(str(path))
    path.write_text("[record]\ncheckpoint_interval = 5\n")
    assert config_mod.load(str(path)).get("record", "checkpoint_interval") == 5.0


def test_a_flag_is_checked_as_the_file_is():
    with pytest.raises(UsageError, match="--backlog: '0' is not a number above 0"):
        parser_mod.build("record").parse_args(["record", "--backlog", "0", "--", "true"])
    args = parser_mod.build("record").parse_args(["record", "--keep", "12h", "--backlog", "8192"])
    assert args.keep == timedelta(hours=12) and args.backlog == 8192


def test_every_flag_of_a_setting_says_its_config_key_and_default():
    helped = " ".join(" ".join(_help_of(command) for command in ("record", "tree")).split())
    for row in T.SETTINGS:
        if row.flag is None:
            continue
        assert row.flag in helped
        if row.key is not None:
            assert f"[{row.section}] {row.key}" in helped, row.name


def _help_of(command: str) -> str:
    sub = next(a for a in parser_mod.build(command)._actions
               if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command].format_help()


def test_a_flag_wins_over_the_environment_which_wins_over_the_file(monkeypatch):
    cfg = config_mod.Config("c", {("store", "uri"): "mongodb://file/"})
    none = argparse.Namespace(mongo=None)
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    assert T.value(none, cfg, "store", "uri") == "mongodb://file/"
    assert T.value(none, config_mod.Config(), "store", "uri") is None
    monkeypatch.setenv("GODO_MONGO_URI", "mongodb://env/")
    assert T.value(none, cfg, "store", "uri") == "mongodb://env/"
    assert T.value(argparse.Namespace(mongo="mongodb://flag/"), cfg, "store", "uri") == "mongodb://flag/"


def test_a_bad_environment_variable_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(T, "BY_NAME", dict(T.BY_NAME))
    row = T.Setting("store", "batch_size", int, 1000, "h", env="GODO_TEST_BATCH", check=T.POSITIVE)
    T.BY_NAME[("store", "batch_size")] = row
    monkeypatch.setenv("GODO_TEST_BATCH", "lots")
    with pytest.raises(ConfigError, match=r"\$GODO_TEST_BATCH: 'lots' is not a number above 0"):
        T.value(argparse.Namespace(), config_mod.Config(), "store", "batch_size")


def test_the_run_options_are_the_tables_rows(tmp_path):
    record_rows = {row.key: row for row in T.SETTINGS if row.target == "record"}
    options = RecordOptions()
    for key, row in record_rows.items():
        assert getattr(options, key) == row.default, key
    cfg = config_mod.Config("c", {("record", "raw_log_max_mb"): 3, ("rules", "backlog"): 9})
    made = RecordOptions(**T.options(argparse.Namespace(backlog=None), cfg, "record"))
    assert (made.raw_log_max_mb, made.backlog, made.backlog_wait) == (3, 9, 0)
    with pytest.raises(TypeError, match="no setting bogus"):
        RecordOptions(bogus=1)
    # Each RecordOptions has its own list, not the table's.
    RecordOptions().exclude_pids.append(7)
    assert RecordOptions().exclude_pids == []


def test_the_store_gets_the_tables_options(monkeypatch):
    cfg = config_mod.Config("c", {("store", "max_queued"): 5})
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    assert T.options(argparse.Namespace(), cfg, "store") == {
        "batch_size": 1000, "flush_interval": 1.0, "max_queued": 5}


def test_the_table_is_not_read_by_godo_version():
    import subprocess
    import sys
    code = ("import sys\nfrom godo.cli import main\nmain(['--version'])\n"
            "print('godo.settings_table' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.stdout.splitlines()[-1] == "False", done.stderr


def test_the_readmes_config_block_agrees_with_the_table():
    import re
    import tomllib
    from pathlib import Path
    readme = (Path(T.__file__).parent.parent / "README.md").read_text()
    block = readme.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    section, shown = None, {}
    for line in block.splitlines():
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            section = header.group(1)
            continue
        setting = re.match(r"#?\s*(\w+) = ", line)
        if setting:
            set_to = None if line.startswith("#") else line.split("#", 1)[0]
            shown[(section, setting.group(1))] = set_to
    in_file = {(row.section, row.key): row for row in T.SETTINGS if row.key is not None}
    assert set(shown) == set(in_file), "README.md's config block and the table name other keys"
    for (section, key), line in shown.items():
        if line is not None:  # set in the block: to the default
            assert tomllib.loads(line)[key] == in_file[(section, key)].default, f"{section}.{key}"
