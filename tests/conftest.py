"""Shared fixtures: both hot-path twins, the live-kernel guard, the real store, and
what the command-line and fault tests of several tiers use. Every test is marked
by its tier's directory: tests/live `live`, tests/store `store`, tests/packaging
`slow`; tests/unit needs neither root and the kernel's audit nor FerretDB."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import time
import types
from pathlib import Path

import pytest

from godo import twins
from support.live import exclusive_audit
from support.servers import _MuteServer, _Server

TESTS = Path(__file__).resolve().parent
# The marker every test under a tier's directory carries.
TIER_MARKERS = {"live": "live", "store": "store", "packaging": "slow"}


# -- the two twins --------------------------------------------------------------

def _twin(name: str) -> types.SimpleNamespace:
    side = {"compiled": 0, "pure": 1}[name]
    if name == "compiled" and twins.NO_EXTENSIONS:
        pytest.skip("GODO_NO_EXTENSIONS is set: only the pure-Python twin is under test")
    # A compiled twin that was meant to load and did not is a failure, not a skip.
    core = importlib.import_module(twins.TWINS["hotpath"][side])
    receive = importlib.import_module(twins.TWINS["receive"][side])
    tracker = importlib.import_module(twins.TWINS["tracker"][side])
    return types.SimpleNamespace(
        name=name, Pipeline=core.Pipeline, Activity=core.Activity,
        parse_record=core.parse_record, Receiver=receive.Receiver, Tracker=tracker.Tracker)


@pytest.fixture(params=["compiled", "pure"])
def twin(request) -> types.SimpleNamespace:
    """Each hot-path and tracker test runs once against each twin: one contract,
    one suite."""
    return _twin(request.param)


# -- the live kernel --------------------------------------------------------------

@pytest.fixture
def live_audit():
    """Exclusive use of the kernel's audit subsystem for one test, which must give
    back exactly the state it found (rules, daemon pid, settings)."""
    with exclusive_audit() as before:
        yield before


@pytest.fixture
def standin_daemon(live_audit):
    """Another process registered as the audit daemon, as auditd would be; its pid.
    Gone afterwards, and the kernel's memory of it with it."""
    from godo.source import audit as A
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, A.NETLINK_AUDIT)
            sock.bind((0, 0))
            with A.AuditControl() as control:
                control.set_status(pid=os.getpid(), sock=sock)
            os.write(ready_w, b"1")
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        yield pid
    finally:
        os.close(ready_r)
        os.close(ready_w)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with A.AuditControl() as control:
            if control.status().pid == pid:
                # The kernel forgets a dead daemon only when it next fails to send to
                # it; a registration of our own, then none, settles it.
                probe = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, A.NETLINK_AUDIT)
                probe.bind((0, 0))
                control.set_status(pid=os.getpid(), sock=probe)
                control.set_status(pid=0, sock=probe)
                probe.close()
            control.set_status(enabled=live_audit["enabled"])


def pytest_collection_modifyitems(config, items):
    """Each test carries its tier's marker, from the directory it is in; a test
    that takes the kernel's audit (live_audit) is live wherever it is."""
    for item in items:
        try:
            tier = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # a test file given from outside tests/
            tier = None
        if tier in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[tier])
        if "live_audit" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)


# -- the real store: embedded FerretDB ---------------------------------------------

@pytest.fixture(scope="session")
def ferret_uri(tmp_path_factory):
    """The URI of one embedded FerretDB for the whole session. Missing binary: a
    skip, or a failure when GODO_REQUIRE_STORE is set."""
    from godo.errors import StoreError
    from godo.store.ferret import EmbeddedFerret, find_binary
    try:
        find_binary()
    except StoreError as exc:
        if os.environ.get("GODO_REQUIRE_STORE"):
            pytest.fail(f"GODO_REQUIRE_STORE is set but {exc}")
        pytest.skip(f"store tests need FerretDB: {exc}")
    with EmbeddedFerret(tmp_path_factory.mktemp("ferretdb")) as ferret:
        yield ferret.uri


@pytest.fixture
def store_db(ferret_uri):
    """A database of its own for each test (one SQLite file in FerretDB), dropped after."""
    import uuid

    import pymongo
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    client = pymongo.MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def server(tmp_path, ferret_uri):
    # ferret_uri: skipped, or failed under GODO_REQUIRE_STORE, without FerretDB.
    srv = _Server(tmp_path / "db")
    yield srv
    srv.stop()


# -- the command line and its faults, in every tier ------------------------------------

@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A data dir of the module's own, an empty config (so no /etc/godo/godo.toml
    of the machine's is read), no GODO_MONGO_URI, wide rich output."""
    base = tmp_path_factory.mktemp("cli")
    empty = base / "empty.toml"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GODO_DATA_DIR", str(base / "data"))
        mp.setenv("GODO_CONFIG", str(empty))
        mp.delenv("GODO_MONGO_URI", raising=False)
        mp.setenv("COLUMNS", "200")
        yield base


@pytest.fixture
def closed_port():
    """A loopback port bound by nobody's listener: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def mute():
    server = _MuteServer()
    yield server
    server.close()
