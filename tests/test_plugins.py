"""Plugin loading: built-ins, a separately installed package's entry point, site plugin folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.site.context import ActionRequest, Refusal
from watchkeeper.devices.drivers import Platform
from watchkeeper.host import open_site
from watchkeeper.host.pluginhost import PluginLoadError, collect_platforms, describe_plugins, load_plugins

TINY_PLUGIN = '''\
"""A tiny third-party plugin, installed from its own package by the test."""
import click
from watchkeeper import hookimpl


@hookimpl
def clock_tolerance(device, site):
    return 12.5 if device == "strict-cam" else None


@hookimpl
def register_commands(cli):
    @cli.command("hello-tiny")
    def hello():
        click.echo("hello from tiny")
'''


@pytest.fixture(scope="module")
def tiny_site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("tiny-src")
    (source / "wk_tiny_plugin.py").write_text(TINY_PLUGIN)
    (source / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "wk-tiny-plugin"
        version = "1.2.3"
        [tool.setuptools]
        py-modules = ["wk_tiny_plugin"]
        [project.entry-points.watchkeeper]
        tiny = "wk_tiny_plugin"
    """))
    target = tmp_path_factory.mktemp("tiny-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True)
    return target


def run_with(target: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(target))
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_builtins_load_through_the_same_mechanism() -> None:
    pm = load_plugins()
    names = [row["name"] for row in describe_plugins(pm)]
    assert "watchkeeper.rules.policy" in names


def test_entry_point_plugin_is_loaded_and_called(tiny_site_packages: Path, site_file: Path) -> None:
    script = f"""
import json
from watchkeeper.host.pluginhost import load_plugins, describe_plugins
from watchkeeper.site.config import load_site
from watchkeeper.site.context import SiteView
pm = load_plugins()
site = load_site({str(site_file)!r})
view = SiteView("absent.db")
print(json.dumps({{
    "strict": pm.hook.clock_tolerance(device="strict-cam", site=site, view=view),
    "other": pm.hook.clock_tolerance(device="gate", site=site, view=view),
    "plugins": describe_plugins(pm),
}}))
"""
    result = run_with(tiny_site_packages, sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strict"] == 12.5  # the plugin overrides the built-in policy
    assert data["other"] == 30.0  # and defers to it otherwise
    tiny = next(p for p in data["plugins"] if p["name"] == "tiny")
    assert tiny["version"] == "1.2.3" and tiny["hooks"] == ["clock_tolerance", "register_commands"]
    command = run_with(tiny_site_packages, sys.executable, "-m", "watchkeeper.faces.cli", "hello-tiny")
    assert command.returncode == 0, command.stderr
    assert command.stdout.strip() == "hello from tiny"


def test_misspelled_hook_fails_at_load_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text(
        "from watchkeeper import hookimpl\n\n@hookimpl\ndef on_findng(finding, site, opened):\n    pass\n")
    with pytest.raises(PluginLoadError) as caught:
        load_plugins(tmp_path)
    message = str(caught.value)
    assert "on_findng" in message and "did you mean 'on_finding'" in message and "typo.py" in message


def test_wrong_hook_arguments_fail_at_load(tmp_path: Path) -> None:
    (tmp_path / "badargs.py").write_text(
        "from watchkeeper import hookimpl\n\n@hookimpl\ndef clock_tolerance(device, site, colour):\n    return 1\n")
    with pytest.raises(PluginLoadError, match="colour"):
        load_plugins(tmp_path)


def test_site_plugin_import_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import does_not_exist_anywhere\n")
    with pytest.raises(PluginLoadError, match=r"broken\.py: failed to import: ModuleNotFoundError"):
        load_plugins(tmp_path)


def test_site_plugin_overrides_policy(tmp_path: Path, site_file: Path) -> None:
    plugins = tmp_path / "site-plugins"
    plugins.mkdir()
    (plugins / "two_person.py").write_text(textwrap.dedent("""\
        from watchkeeper import hookimpl

        @hookimpl
        def authorize(actor, action, resource, site):
            if action == "footage.export":
                return False
    """))
    pm = load_plugins(plugins)
    app = open_site(site_file, pm)  # a plugin written before `people` or `request` was passed still works

    def ask(actor: str, action: str) -> object:
        return pm.hook.authorize(actor=actor, action=action, resource="cam", site=app.site, people=app.people,
                                 request=ActionRequest(actor, action, "cam", app.view))

    try:
        assert ask("li", "footage.export") == Refusal("", "site:two_person.py")
        assert ask("li", "footage.view") is True
        assert not ask("new-op", "footage.view")
    finally:
        app.close()


def test_platform_registration_is_validated(tmp_path: Path) -> None:
    (tmp_path / "platforms.py").write_text(textwrap.dedent("""\
        from watchkeeper import hookimpl
        from watchkeeper.devices.drivers import Platform

        @hookimpl
        def register_platforms(register):
            register(Platform(name="Bad Name", camera_driver=object))
            register(Platform(name="nodriver"))
    """))
    with pytest.raises(PluginLoadError) as caught:
        collect_platforms(load_plugins(tmp_path, builtins=()))
    assert "'Bad Name'" in str(caught.value) and "'nodriver' has no driver" in str(caught.value)
    assert Platform(name="ok", camera_driver=object).default_port == 80


def test_trace_env_prints_hook_calls(site_file: Path) -> None:
    env = dict(os.environ, WATCHKEEPER_TRACE_PLUGINS="1")
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(site_file), "plugins"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[watchkeeper hooks]" in result.stderr and "register_commands" in result.stderr


def test_plugins_command_lists_hooks() -> None:
    result = CliRunner().invoke(make_cli(), ["plugins", "--json"])
    rows = json.loads(result.output)
    policy = next(r for r in rows if r["name"] == "watchkeeper.rules.policy")
    assert policy["hooks"] == ["authorize", "clock_tolerance", "register_verdicts", "retention_days"]
