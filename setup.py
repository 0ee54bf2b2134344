"""Build the compiled frame-analysis extension; everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def extensions() -> list:
    """One extension module per `cython_ext/*.pyx`, installed as `watchkeeper.analysis.<name>`."""
    sources = sorted((HERE / "cython_ext").glob("*.pyx"))
    if not sources:
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = [
        Extension(f"watchkeeper.analysis.{source.stem}", [str(source.relative_to(HERE))])
        for source in sources
    ]
    return cythonize(modules, language_level=3, compiler_directives={"boundscheck": False})


def packages() -> list[str]:
    """Every folder with an __init__.py under framework/ and plugins/, under its installed name."""
    found = []
    for folder, prefix in (("framework", "watchkeeper"), ("plugins", "watchkeeper.plugins")):
        for init in sorted((HERE / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(HERE / folder).parts
            if "__pycache__" not in relative:
                found.append(".".join((prefix, *relative)))
    return found


setup(packages=packages(), ext_modules=extensions())
