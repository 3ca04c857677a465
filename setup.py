"""Build godo's compiled twins: `_ext/godo/STAGE/NAME.pyx` -> the `godo.STAGE.NAME` module,
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
    modules += [Extension(name, [str(source.relative_to(HERE))], include_dirs=["_ext"],
                          define_macros=macros, extra_compile_args=compile_args)
                for name, source in pure_mode_sources()]
    print(f"godo: building the accelerated twins ({', '.join(m.name for m in modules)})", file=sys.stderr)
    return cythonize(
        modules,
        include_path=["_ext"],
        compiler_directives={"language_level": "3", "linetrace": DEBUG, "profile": DEBUG,
                             # Types come from the .pxd beside each copy, never from
                             # the annotations the pure twin is written with.
                             "annotation_typing": False},
        quiet=True,
    )


# Python modules compiled as they are (Cython's pure mode): the .py stays the source
# and the pure-Python twin; a copy named as the compiled twin, its imports of its
# fellows renamed alike, is compiled with the .pxd beside it in _ext/.
PURE_MODE = {"godo/tracker/model.py": "_model_c", "godo/tracker/files.py": "_files_c",
             "godo/tracker/containers.py": "_containers_c",
             "godo/tracker/tracker.py": "_tracker_c"}


def pure_mode_sources():
    renames = {Path(py).stem: compiled for py, compiled in PURE_MODE.items()}
    for py, compiled in PURE_MODE.items():
        source = HERE / py
        text = source.read_text()
        for stem, new in renames.items():
            text = text.replace(f"from .{stem} import", f"from .{new} import")
        text = f"# Written by setup.py from {py}: do not edit.\n" + text
        copy = HERE / "_ext" / source.parent.relative_to(HERE) / f"{compiled}.py"
        if not copy.exists() or copy.read_text() != text:
            copy.write_text(text)  # rewritten only when changed: the build goes by its mtime
        yield ".".join(copy.relative_to(HERE / "_ext").with_suffix("").parts), copy


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
