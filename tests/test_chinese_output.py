"""With WATCHKEEPER_LANG=zh_CN nothing a person reads is English: the demo, its report and every
command's --help, scanned for runs of Latin letters outside a short allow-list."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli

#: Latin words a Chinese reader sees on purpose: protocols, formats, units, the product and its
#: commands, click's metavars. Anything else is an untranslated string (or belongs here, argued).
ALLOWED = {
    # protocols, standards, formats
    "ONVIF", "ISAPI", "SIP", "RTSP", "NTP", "OSDP", "SCBK", "HTTP", "HTTPS", "TLS", "Digest", "JPEG", "PDF", "HTML",
    "JSON", "xlsx", "csv", "URL", "SHA", "sha", "UTC", "CGI", "GB", "MB", "NVR", "IR", "UUID", "systemd", "Bash",
    "Chromium", "WS", "Discovery", "TOML", "toml", "Redis", "HMAC",
    # units and number notation
    "s", "ms", "min", "h", "x", "e",
    # the product, its command line and click's value placeholders
    "watchkeeper", "ID", "COMMAND", "ARGS", "OPTIONS", "TEXT", "INTEGER", "FLOAT", "RANGE", "FILENAME", "DATETIME",
    "BOOLEAN", "CHOICE", "NAME", "VALUE", "KEY", "PATH", "IMAGE", "FILE", "FOLDER", "TASK", "YOU", "PERIOD", "FORMAT",
}
#: Identifiers: option names, config keys, rule ids, file names, hashes, identifiers with _ - . / =.
IDENTIFIER = re.compile(r"--?[A-Za-z][\w-]*|\b\w*[_./=]\w[\w./=-]*|\b[0-9a-f]{8,}\b|\bR\d+\b|`[^`]*`|\{[^}]*\}")
LATIN_RUN = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")

#: Outputs to scan, as (label, text) producers; the lead extends it at merge (the printed registers).
EXTRA_OUTPUTS: list = []


def config_names(site_toml: Path) -> set[str]:
    """Every word in the site's own config: camera ids, names, places, purposes, people."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            words.update(re.findall(r"[A-Za-z]+", value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tomllib.loads(site_toml.read_text(encoding="utf-8")))
    return words


def english_runs(text: str, allowed: set[str]) -> list[str]:
    text = IDENTIFIER.sub(" ", text)
    return [run for run in LATIN_RUN.findall(text) if not set(re.split(r"[ '-]", run)) <= allowed]


def visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group of the CLI, so a new one is scanned without editing this test."""
    yield path
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_help_is_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    cli = make_cli()
    found = {}
    for path in commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        runs = english_runs(result.output, ALLOWED | set(path))
        if runs:
            found[" ".join(path) or "watchkeeper"] = runs
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_demo_and_report_are_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {**os.environ, "WATCHKEEPER_LANG": "zh_CN"}
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "demo", "--folder", str(folder)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    allowed = ALLOWED | config_names(folder / "site.toml")
    outputs = [("demo", result.stdout + result.stderr)]
    outputs += [(path.name, visible_text(path.read_text(encoding="utf-8")))
                for path in (folder / "reports").glob("*.html")]
    outputs += [(label, produce(folder, env)) for label, produce in EXTRA_OUTPUTS]
    found = {label: runs for label, text in outputs if (runs := english_runs(text, allowed))}
    assert not found, "\n".join(f"{k}: {sorted(set(v))}" for k, v in found.items())
