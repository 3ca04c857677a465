"""`godo store serve`: the embedded server kept up in the foreground, its URI on
stdout; godo commands meanwhile use that server; leaving stops it when no other
godo uses it; a server that dies under it ends it with one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pymongo
import pytest

from godo.store.ferret_connect import read_endpoint
from support.cli import GODO, _one_line_error, _run
from support.paths import DATA
from support.servers import _alive

store = pytest.mark.store


@pytest.fixture
def data(monkeypatch, ferret_uri):
    """A data directory of a short path (the server's socket is in it), 0700 above."""
    base = Path(tempfile.mkdtemp(prefix="godo-serve-"))
    monkeypatch.setenv("GODO_DATA_DIR", str(base / "data"))
    monkeypatch.delenv("GODO_MONGO_URI", raising=False)
    yield base / "data"
    shutil.rmtree(base, ignore_errors=True)


def _serve() -> tuple[subprocess.Popen, str]:
    serve = subprocess.Popen(GODO + ["store", "serve"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    uri = serve.stdout.readline().strip()
    assert uri.startswith("mongodb://%2F") and uri.endswith("ferretdb.sock/?directConnection=true"), \
        serve.stderr.read()
    return serve, uri


def _left(serve: subprocess.Popen) -> tuple[int, str]:
    serve.send_signal(signal.SIGTERM)
    _, err = serve.communicate(timeout=30)
    return serve.returncode, err


@store
def test_serve_prints_the_uri_every_command_uses_and_stops_the_server_on_sigterm(data):
    serve, uri = _serve()
    try:
        server = read_endpoint(data)["pid"]
        replayed = _run("replay", "--scope", "host", DATA / "dirfd.log")
        assert replayed.returncode == 0, replayed.stderr
        # The replay used the served server: it is still the one, and still up.
        assert read_endpoint(data)["pid"] == server and _alive(server)
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        try:
            db = client["godo"]
            assert db.files.count_documents({}) == 8
            assert db.processes.count_documents({}) == 1
            assert db.runs.find_one()["status"] == "finished"
        finally:
            client.close()
        listed = _run("files")
        assert listed.returncode == 0 and "/tmp/godo-capture/dirfd/target/plain.txt" in listed.stdout
    finally:
        code, err = _left(serve)
    assert code == 0, err
    assert "(started)" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server)
    assert not (data / "ferretdb" / "ferretdb.sock").exists()


@store
def test_a_second_serve_joins_and_the_last_to_leave_stops_the_server(data):
    first, uri = _serve()
    second, again = _serve()
    server = read_endpoint(data)["pid"]
    assert again == uri
    code, err = _left(first)
    assert code == 0 and "(started)" in err
    assert _alive(server), "the first to leave left it to the second"
    code, err = _left(second)
    assert code == 0 and "(joined the running one)" in err
    deadline = time.monotonic() + 10
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server)


@store
def test_a_server_that_dies_under_serve_ends_it_in_one_line(data):
    serve, _ = _serve()
    os.kill(read_endpoint(data)["pid"], signal.SIGKILL)
    _, err = serve.communicate(timeout=30)
    assert serve.returncode == 1
    assert "died: exit status" in _one_line_error(err.split("\n", 1)[1])


@store
def test_serve_with_a_mongodb_uri_is_one_line(data):
    served = _run("store", "serve", "--mongo", "mongodb://127.0.0.1:1/godo")
    assert served.returncode == 1
    assert "no embedded server to serve" in _one_line_error(served.stderr)
