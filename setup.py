"""Build godo's compiled twins: `_ext/godo/STAGE/NAME.pyx` -> the `godo.STAGE.NAME` module,
the tracker's parts `godo/tracker/NAME.py` -> `godo._tracker_c.NAME` (Cython's pure mode),
and, in a wheel, godo's FerretDB binary (godo/data/build-ferretdb.sh) as godo/_bin/ferretdb.

Switches (environment):
  GODO_NO_EXTENSIONS=1  build nothing: the pure-Python twin runs
  GODO_DEBUG=1          -O0 -g, Cython line tracing and the GODO_DEBUG checks
  GODO_NO_FERRETDB=1    a wheel without FerretDB (as when Go is not on PATH):
                        its users run `godo store setup`, which builds it with Go
"""

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
NO_EXTENSIONS = bool(os.environ.get("GODO_NO_EXTENSIONS"))
DEBUG = bool(os.environ.get("GODO_DEBUG"))
NO_FERRETDB = bool(os.environ.get("GODO_NO_FERRETDB"))


def extensions():
    if NO_EXTENSIONS:
        print("godo: GODO_NO_EXTENSIONS is set, building the pure-Python hot path only", file=sys.stderr)
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    # What the compiled hot path must know of the vocabulary at compile time (build output).
    vocab = runpy.run_path(str(HERE / "_ext/godo/hotpath/vocab_pxi.py"))
    vocab["write"](HERE, HERE / "_ext/godo/hotpath")
    macros = [("GODO_DEBUG", "1" if DEBUG else "0")]
    if DEBUG:
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    # GCC 14 makes incompatible pointers an error by default: the build holds to it
    # on every compiler, so a warning here fails now, not on a user's distribution.
    compile_args = (["-O0", "-g"] if DEBUG else ["-O3"]) + ["-Werror=incompatible-pointer-types"]
    # _ext/ mirrors the package: _ext/godo/STAGE/NAME.pyx is the module godo.STAGE.NAME,
    # beside its pure-Python twin (Cython finds a module's .pxd by that path).
    modules = [
        Extension(".".join(pyx.relative_to(HERE / "_ext").with_suffix("").parts),
                  [str(pyx.relative_to(HERE))], include_dirs=["_ext"],
                  define_macros=macros, extra_compile_args=compile_args)
        for pyx in sorted((HERE / "_ext").glob("godo/*/*.pyx"))
    ]
    # The tracker's parts, compiled as they are (Cython's pure mode): godo/tracker/NAME.py
    # is the module godo._tracker_c.NAME, typed by the .pxd beside it there. Their C
    # goes under build/, not beside the Python package's sources.
    _forget_stale_parts()
    parts = [Extension(f"godo._tracker_c.{name}", [f"godo/tracker/{name}.py"], include_dirs=["_ext"],
                       define_macros=macros, extra_compile_args=compile_args)
             for name in TRACKER_PARTS]
    print(f"godo: building the accelerated twins ({', '.join(m.name for m in modules + parts)})",
          file=sys.stderr)
    options = dict(include_path=["_ext"], quiet=True,
                   compiler_directives={"language_level": "3", "linetrace": DEBUG, "profile": DEBUG,
                                        # Types come from the .pxd beside each compiled part,
                                        # never from the annotations its pure twin is written with.
                                        "annotation_typing": False})
    return cythonize(modules, **options) + cythonize(parts, build_dir="build/cython", **options)


def _forget_stale_parts() -> None:
    """cythonize looks for a module's .pxd beside its source, so it never sees that a
    part's types (godo/_tracker_c/*.pxd, or the hot path's Activity they cimport)
    changed: the C it made before is dropped, and made again, when one is newer."""
    types = [*(HERE / "godo/_tracker_c").glob("*.pxd"), HERE / "_ext/godo/hotpath/_hotpath_c.pxd"]
    newest = max(path.stat().st_mtime for path in types)
    for name in TRACKER_PARTS:
        made = HERE / "build/cython/godo/tracker" / f"{name}.c"
        if made.exists() and made.stat().st_mtime < newest:
            made.unlink()


# The tracker's parts: each imports its fellows by `.` and the tracker's shared modules
# by `..tracker`, so that the one source serves as godo.tracker.NAME (the pure twin) and,
# compiled, as godo._tracker_c.NAME among its compiled fellows.
TRACKER_PARTS = ("paths", "model", "files", "containers", "tracker")


# -- FerretDB in the wheel -----------------------------------------------------------------------

def _go() -> str | None:
    return None if NO_FERRETDB else shutil.which("go")


class BuildPyWithFerretDB(build_py):
    """build_py, then godo's FerretDB into the package as godo/_bin/ferretdb.

    The build script builds into its cache (keyed by its patches' digest) or finds
    it there, so a checkout's scripts/setup.sh and a wheel build share one Go build.
    An editable install (a checkout) leaves it in the cache, where godo looks too."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if _go() is None:
            why = "GODO_NO_FERRETDB is set" if NO_FERRETDB else "Go is not on PATH"
            bar = "!" * 78
            print(f"{bar}\ngodo: {why}: this wheel does NOT carry FerretDB; its users must run "
                  f"`godo store setup`\n(which builds it with Go 1.22+) or give a MongoDB URI\n{bar}",
                  file=sys.stderr)
            return
        script = HERE / "godo" / "data" / "build-ferretdb.sh"
        built = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True)
        if built.returncode != 0:
            sys.exit(f"godo: building FerretDB failed (exit {built.returncode}); Go's output is above")
        binary = built.stdout.strip().splitlines()[-1]
        target = Path(self.build_lib) / "godo" / "_bin" / "ferretdb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, target)
        target.chmod(0o755)
        print(f"godo: the wheel carries FerretDB from {binary} "
              f"({target.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


class PlatformDistribution(Distribution):
    """A wheel carrying the FerretDB binary is a platform wheel, even built with
    GODO_NO_EXTENSIONS (no compiled module to say so)."""

    def has_ext_modules(self):
        return super().has_ext_modules() or _go() is not None


setup(ext_modules=extensions(), cmdclass={"build_py": BuildPyWithFerretDB},
      distclass=PlatformDistribution)
