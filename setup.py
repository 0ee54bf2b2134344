"""Build the compiled frame-analysis extension; everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def extensions() -> list:
    """One extension module per `cython_ext/*.pyx`, installed as `watchkeeper.<name>`."""
    sources = sorted((HERE / "cython_ext").glob("*.pyx"))
    if not sources:
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = [
        Extension(f"watchkeeper.{source.stem}", [str(source.relative_to(HERE))])
        for source in sources
    ]
    return cythonize(modules, language_level=3, compiler_directives={"boundscheck": False})


setup(ext_modules=extensions())
