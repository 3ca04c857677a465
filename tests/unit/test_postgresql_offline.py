"""The fleet's PostgreSQL URL (godo/store/postgresql.py): the password taken out of
what FerretDB is given, read-write targeting added for a multi-host URL, the
passfile's format and mode, and which store a command's settings name."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from godo.cli.settings import store_urls
from godo.errors import ConfigError
from godo.store.ferret import EmbeddedFerret
from godo.store.postgresql import front_end_dir, split_password, write_passfile


def test_the_password_is_taken_out_of_the_user_part_and_the_options():
    assert split_password("postgres://godo:s%3Acret@db1:5432/godo") == \
        ("postgres://godo@db1:5432/godo", "s:cret")
    assert split_password("postgresql://godo@db1/godo?password=pw&sslmode=require") == \
        ("postgresql://godo@db1/godo?sslmode=require", "pw")
    assert split_password("postgres://db1/godo") == ("postgres://db1/godo", None)


def test_several_hosts_target_the_one_taking_writes_unless_told():
    public, _ = split_password("postgres://godo:pw@db1:5432,db2:5432/godo")
    assert public == "postgres://godo@db1:5432,db2:5432/godo?target_session_attrs=read-write"
    given, _ = split_password("postgres://godo@db1,db2/godo?target_session_attrs=any")
    assert given.endswith("?target_session_attrs=any")


@pytest.mark.parametrize("url", ["mongodb://db1/godo", "postgres:///godo", "db1:5432"])
def test_anything_but_a_postgres_url_naming_a_host_is_refused(url):
    with pytest.raises(ConfigError, match="invalid PostgreSQL URL"):
        split_password(url)


def test_a_refused_url_is_said_without_its_password():
    with pytest.raises(ConfigError) as caught:
        split_password("mysql://godo:hunter2@db1/godo")
    assert "hunter2" not in str(caught.value)


def test_the_passfile_is_private_and_escapes_what_libpq_escapes(tmp_path):
    path = write_passfile(tmp_path, "a:b\\c")
    assert path.read_text() == "*:*:*:*:a\\:b\\\\c\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_front_end_is_per_cluster_and_its_arguments_hold_no_password(tmp_path):
    one = EmbeddedFerret(tmp_path, postgresql="postgres://godo:pw@db1,db2/godo")
    other = EmbeddedFerret(tmp_path, postgresql="postgres://godo:pw@db3/godo")
    assert one.dir != other.dir and one.dir.parent == tmp_path
    assert one.dir == front_end_dir(tmp_path, one.postgresql)
    args = one._handler_args()
    assert args[0] == "--handler=postgresql" and "pw" not in " ".join(args)


def _args(**given):
    return argparse.Namespace(mongo=given.get("mongo"), postgresql=given.get("postgresql"),
                              config=None, cfg=None)


def test_the_settings_name_one_store(monkeypatch):
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    monkeypatch.delenv("GODO_POSTGRESQL_URL", raising=False)
    monkeypatch.delenv("GODO_CONFIG", raising=False)
    monkeypatch.setattr("godo.config.DEFAULT_PATH", "/nonexistent/godo.toml")
    assert store_urls(_args()) == (None, None)
    assert store_urls(_args(postgresql="postgres://db1/godo")) == (None, "postgres://db1/godo")
    monkeypatch.setenv("GODO_MONGO_URI", "mongodb://db/godo")
    # A flag wins over the environment.
    assert store_urls(_args(postgresql="postgres://db1/godo")) == (None, "postgres://db1/godo")
    with pytest.raises(ConfigError, match="both a MongoDB URI and a PostgreSQL URL"):
        store_urls(_args(mongo="mongodb://db/godo", postgresql="postgres://db1/godo"))


def test_an_error_names_the_cluster_and_drops_ferretdbs_go_trail():
    from godo.errors import StoreError
    from godo.store.postgresql import naming_the_cluster
    sock = "mongodb://%2Fd%2Fferretdb.sock/?directConnection=true"
    with pytest.raises(StoreError) as caught:
        with naming_the_cluster(sock, "postgres://godo@db1,db2/godo"):
            raise StoreError(f"the database at {sock} failed: [msg_ping.go:55 handler.(*Handler)."
                             "MsgPing] [opendb.go:110 pool.checkConnection] failed to connect")
    assert str(caught.value) == ("the database at postgres://***@db1,db2/godo (through this "
                                 "host's FerretDB) failed: failed to connect")
