"""Builds Galerna's compiled core (Cython) and names the build's own commands; everything else is in pyproject.toml.

The commands (``cmdclass``) are named here only: setuptools applies pyproject.toml's
``[tool.setuptools.cmdclass]`` after setup()'s arguments and replaces the whole table, so
naming commands in both places silently drops the ones given here.
"""
import importlib.util
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from Cython.Build import cythonize
except ImportError as e:  # pip installs it from [build-system] requires; a bare `python setup.py` may not
    raise SystemExit("galerna: building the compiled core needs Cython (pip install Cython), "
                     "or install with `pip install .`, which fetches it") from e

NEEDS = ("galerna: compiling the core (galerna/schedule/*.pyx) needs a C compiler and the Python headers; "
         "on Debian: apt-get install gcc python3-dev (scripts/setup.sh installs them when run as root)")


class BuildExtExplained(build_ext):
    """build_ext that says what is missing when the C compiler cannot run."""

    def run(self):
        try:
            super().run()
        except Exception as e:  # CompileError, LinkError, or a missing gcc (DistutilsExecError)
            raise SystemExit(f"{NEEDS}\n  ({type(e).__name__}: {e})") from e


def console_build_py():
    """The console's build_py (the wheel ships ECharts), loaded from its file alone: the
    galerna package itself cannot be imported before its core is compiled."""
    spec = importlib.util.spec_from_file_location("galerna_console_build_assets",
                                                  Path(__file__).parent / "galerna" / "console" / "build_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ConsoleBuildPy


# Every .pyx under galerna/schedule/ is one extension module of the same name.
extensions = [Extension("galerna.schedule." + p.stem, [str(p)], extra_compile_args=["-O2"])
              for p in sorted(Path("galerna/schedule").glob("*.pyx"))]
setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
      cmdclass={"build_ext": BuildExtExplained, "build_py": console_build_py()})
