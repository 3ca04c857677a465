"""Every compiled module has a .pyi beside it that type checkers read, and its
stub names only what the module has."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from godo import twins
from godo.vocab.activity import ACTIVITY_FIELDS

ROOT = Path(__file__).resolve().parents[2]


def _compiled_modules() -> list[str]:
    """The modules setup.py compiles: _ext/godo/STAGE/NAME.pyx, and the tracker's
    parts, godo._tracker_c.NAME, each typed by its NAME.pxd there."""
    ext = ROOT / "_ext"
    names = {".".join(p.relative_to(ext).with_suffix("").parts) for p in ext.glob("godo/*/*.pyx")}
    names |= {f"godo._tracker_c.{p.stem}" for p in (ROOT / "godo" / "_tracker_c").glob("*.pxd")}
    return sorted(names)


def _stub(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".pyi")


def _declared(stub: Path) -> set[str]:
    tree = ast.parse(stub.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def test_every_compiled_module_has_a_stub():
    modules = _compiled_modules()
    assert "godo.hotpath._hotpath_c" in modules and "godo._tracker_c.tracker" in modules
    assert [m for m in modules if not _stub(m).exists()] == []


@pytest.mark.parametrize("module", ["godo.hotpath._hotpath_c", "godo.source._receive_c"])
def test_a_stub_names_only_what_its_module_has(module):
    if twins.NO_EXTENSIONS:
        pytest.skip("GODO_NO_EXTENSIONS is set: no compiled module to hold its stub to")
    compiled = importlib.import_module(module)
    assert [name for name in _declared(_stub(module)) if not hasattr(compiled, name)] == []


def test_the_activity_stub_has_every_field_of_the_contract():
    tree = ast.parse(_stub("godo.hotpath._hotpath_c").read_text())
    activity = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Activity")
    fields = [n.target.id for n in activity.body if isinstance(n, ast.AnnAssign)]
    assert tuple(fields) == ACTIVITY_FIELDS
