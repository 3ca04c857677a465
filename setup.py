"""Build godo's compiled twins: `_ext/godo/STAGE/NAME.pyx` -> the `godo.STAGE.NAME` module.

Switches (environment):
  GODO_NO_EXTENSIONS=1  build nothing: the pure-Python twin runs
  GODO_DEBUG=1          -O0 -g, Cython line tracing and the GODO_DEBUG checks
"""

import os
import runpy
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
NO_EXTENSIONS = bool(os.environ.get("GODO_NO_EXTENSIONS"))
DEBUG = bool(os.environ.get("GODO_DEBUG"))


def extensions():
    if NO_EXTENSIONS:
        print("godo: GODO_NO_EXTENSIONS is set, building the pure-Python hot path only", file=sys.stderr)
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    # The compiled Activity is written from the contract's field list (build output).
    activity = runpy.run_path(str(HERE / "_ext/godo/hotpath/activity_pxi.py"))
    activity["write"](HERE / "godo/hotpath/contract.py", HERE / "_ext/godo/hotpath/activity.pxi")
    macros = [("GODO_DEBUG", "1" if DEBUG else "0")]
    if DEBUG:
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
    # _ext/ mirrors the package: _ext/godo/STAGE/NAME.pyx is the module godo.STAGE.NAME,
    # beside its pure-Python twin (Cython finds a module's .pxd by that path).
    modules = [
        Extension(".".join(pyx.relative_to(HERE / "_ext").with_suffix("").parts),
                  [str(pyx.relative_to(HERE))], include_dirs=["_ext"],
                  define_macros=macros, extra_compile_args=compile_args)
        for pyx in sorted((HERE / "_ext").glob("godo/*/*.pyx"))
    ]
    print(f"godo: building the accelerated hot path ({', '.join(m.name for m in modules)})", file=sys.stderr)
    return cythonize(
        modules,
        include_path=["_ext"],
        compiler_directives={"language_level": "3", "linetrace": DEBUG, "profile": DEBUG},
        quiet=True,
    )


setup(ext_modules=extensions())
