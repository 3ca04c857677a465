"""Offline: how views show times (a date only when not today), the ages retention
reads, and the usage of `godo prune`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from godo.cli import main
from godo.cli.views import when
from godo.config import load, parse_duration
from godo.errors import ConfigError
from support.cli import _config_file


def test_a_time_of_today_is_shown_alone_and_another_days_with_its_date():
    stamp = datetime(2026, 3, 4, 12, 0, 1, 234000, tzinfo=timezone.utc)
    local = stamp.astimezone()
    assert when(stamp, today=local.date()) == local.strftime("%H:%M:%S")
    assert when(stamp, millis=True, today=local.date()) == local.strftime("%H:%M:%S.234")
    other = local.date() + timedelta(days=1)
    assert when(stamp, today=other) == local.strftime("%Y-%m-%d %H:%M:%S")
    assert when(stamp, millis=True, today=other) == local.strftime("%Y-%m-%d %H:%M:%S.234")
    # pymongo's naive datetimes are UTC
    assert when(stamp.replace(tzinfo=None), today=other) == when(stamp, today=other)
    assert when(datetime.now(timezone.utc)).count(":") == 2 and "-" not in when(datetime.now(timezone.utc))


def test_ages_for_retention():
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("8w") == timedelta(weeks=8)
    for bad in ("30", "0d", "soon", "-1d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_store_keep_and_raw_log_keep_in_the_config(tmp_path):
    cfg = load(str(_config_file(tmp_path, '[store]\nkeep = "30d"\n[record]\nraw_log_keep = 3\n')))
    assert cfg.get("store", "keep") == "30d" and cfg.get("record", "raw_log_keep") == 3
    with pytest.raises(ConfigError, match="store.keep must be an age like 12h, 30d or 8w"):
        load(str(_config_file(tmp_path, '[store]\nkeep = "forever"\n')))
    with pytest.raises(ConfigError, match="raw_log_keep must be a number of 0 or more"):
        load(str(_config_file(tmp_path, '[record]\nraw_log_keep = -1\n')))


def test_prune_needs_a_run_or_a_time_and_record_keep_an_age(capsys):
    assert main(["prune"]) == 2
    assert "one of the arguments --run --before is required" in capsys.readouterr().err
    assert main(["prune", "--run", "x", "--before", "1d"]) == 2
    capsys.readouterr()
    assert main(["record", "--keep", "forever", "--", "true"]) == 2
    assert "cannot read 'forever' as an age" in capsys.readouterr().err
