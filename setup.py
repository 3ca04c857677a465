"""Build godo's compiled hot path: `_ext/*.pyx` -> `godo.<name>` extension modules.

Switches (environment):
  GODO_NO_EXTENSIONS=1  build nothing: the pure-Python twin runs
  GODO_DEBUG=1          -O0 -g, Cython line tracing and the GODO_DEBUG checks
"""

import os
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

    macros = [("GODO_DEBUG", "1" if DEBUG else "0")]
    if DEBUG:
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
    modules = [
        Extension(f"godo.{pyx.stem}", [str(pyx.relative_to(HERE))],
                  include_dirs=["_ext"], define_macros=macros, extra_compile_args=compile_args)
        for pyx in sorted((HERE / "_ext").glob("*.pyx"))
    ]
    print(f"godo: building the accelerated hot path ({', '.join(m.name for m in modules)})", file=sys.stderr)
    return cythonize(
        modules,
        include_path=["_ext"],
        compiler_directives={"language_level": "3", "linetrace": DEBUG, "profile": DEBUG},
        quiet=True,
    )


setup(ext_modules=extensions())
