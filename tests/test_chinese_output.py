"""With WATCHKEEPER_LANG=zh_CN nothing a person reads is English: the demo, its report and every
command's --help, scanned for runs of Latin letters outside a short allow-list."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from watchkeeper.site.config import DEFAULT_MAINTENANCE
from watchkeeper.site.presets import PRESETS


#: Latin words a Chinese reader sees on purpose: protocols, formats, units, the product and its
#: commands, click's metavars. Anything else is an untranslated string (or belongs here, argued).
ALLOWED = {
    # protocols, standards, formats
    "ONVIF", "ISAPI", "SIP", "RTSP", "NTP", "OSDP", "SCBK", "HTTP", "HTTPS", "TLS", "Digest", "JPEG", "PDF", "HTML",
    "JSON", "xlsx", "csv", "URL", "SHA", "sha", "UTC", "CGI", "GB", "MB", "NVR", "IR", "UUID", "systemd", "Bash",
    "Chromium", "WS", "Discovery", "TOML", "toml", "Redis", "HMAC", "IANA", "XML", "SOAP", "Basic",
    "onvif", "hikvision", "dahua", "osdp", "gb28181",  # platform (plugin) names, as site.toml spells them
    "operator", "supervisor", "maintenance", "administrator",  # role names, as site.toml spells them
    "CST",  # a device's own time-zone notation (CST-8), shown as the device reports it
    # units and number notation
    "s", "ms", "min", "h", "x", "e", "Ctrl", "T",
    # words of the config file and of the system the appliance runs on, named in helps
    "folder", "reports", "site", "env", "file", "admin", "syslog", "systemctl", "daemon", "enable", "blur", "md",
    # the product, its command line and click's value placeholders
    "watchkeeper", "ID", "COMMAND", "ARGS", "OPTIONS", "TEXT", "INTEGER", "FLOAT", "RANGE", "FILENAME", "DATETIME",
    "BOOLEAN", "CHOICE", "NAME", "VALUE", "KEY", "PATH", "IMAGE", "FILE", "FOLDER", "TASK", "YOU", "PERIOD", "FORMAT",
}
#: Identifiers: option names, config keys, rule ids, file names, hashes, identifiers with _ - . / =, and
#: a protocol's own names of calls, fields and errors, in camelCase (getSystemInfo, GetSystemDateAndTime,
#: ConnectError) or as an XML element (<DeviceInfo>): no English sentence is written that way.
IDENTIFIER = re.compile(r"\b[a-z]+[A-Z]\w*|\b[A-Z][a-z]+[A-Z]\w*|<[\w:.-]+>|\b\w+:[A-Za-z][\w.-]*|--?[A-Za-z][\w-]*|\[{1,2}[\w.-]+\]{1,2}|[\w-]+\[[^\]\n]*\](?:\.[\w-]+)*|\b[A-Za-z]+-\d[\w-]*|\b\w+:\d[\w.:]*|\b\w*\d\w*\b|'[^'\n]*'|\b\w*[_./=]\w[\w./=+-]*|\b[0-9a-f]{8,}\b|\bR\d+\b|`[^`]*`|\{[^}]*\}")
LATIN_RUN = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")

#: Commands whose output is scanned after the demo: the lists a person reads day to day.
LISTS = [["findings", "list"], ["maintenance", "list"], ["visitor", "list"], ["review", "list"], ["people", "list"],
         ["scope", "status"], ["footage", "list"], ["duty", "show"], ["journal", "verify"], ["journal", "show"]]
FORMS_SCRIPT = """
import sys
from watchkeeper.host import open_site
from watchkeeper.faces.forms import parse_period, registers
from watchkeeper.faces.forms_render import render_form

app = open_site(sys.argv[1])
for name, register in registers().items():
    for blank in (False, True):
        html, _ = render_form(app, register, parse_period("day", app.site.zone), blank=blank)
        print(html)
app.close()
"""


def printed_registers(folder: Path, env: dict[str, str]) -> str:
    """Every register (登记表) as printed for the demo's day, filled and blank: the forms' HTML, which
    headless Chromium turns into the PDF unchanged."""
    result = subprocess.run([sys.executable, "-c", FORMS_SCRIPT, str(folder / "site.toml")], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return visible_text(result.stdout)


#: The LISTS commands, each as `watchkeeper --config SITE ...` would run it, in one process of their own
#: (the language is set before watchkeeper is imported): one interpreter instead of one a command.
#: click's runner gives stdout and stderr together, as the person at the terminal reads them.
LISTS_SCRIPT = """
import json, sys
from click.testing import CliRunner
from watchkeeper.faces.cli import make_cli

config, out = sys.argv[1], []
for command in json.loads(sys.argv[2]):
    result = CliRunner().invoke(make_cli(config=config), ["--config", config, *command], prog_name="watchkeeper")
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    out.append([command, 99 if crashed else result.exit_code, result.output + (repr(result.exception) if crashed else "")])
print(json.dumps(out))
"""

#: Outputs to scan, as (label, producer(folder, env) -> text); a new printed output goes here.
EXTRA_OUTPUTS: list = [("printed registers", printed_registers)]


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


def command_names() -> set[str]:
    """The CLI's command words: an output may tell the reader which command to run next."""
    from watchkeeper.faces.cli import make_cli

    words: set[str] = set()
    groups = [make_cli()]
    while groups:
        group = groups.pop()
        for name, command in group.commands.items():
            words.update(name.split("-"))
            if hasattr(command, "commands"):
                groups.append(command)
    return words


def english_runs(text: str, allowed: set[str]) -> list[str]:
    text = IDENTIFIER.sub(" ", text)
    return [run for run in LATIN_RUN.findall(text) if not set(re.split(r"[ '-]", run)) <= allowed]


def visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


#: Run in a process of its own: option help is translated when a module is imported, so the language
#: must be set before anything of watchkeeper is.
HELP_SCRIPT = """
import json, click
from click.testing import CliRunner
from watchkeeper.faces.cli import make_cli

def commands(group, path=()):
    # every command and group, so a new one is scanned without editing the test
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command

cli, out = make_cli(), {}
for path, command in commands(cli):
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="watchkeeper", terminal_width=200)
    names = [*path, *getattr(command, "commands", {})]
    for param in command.params:
        names += [str(c) for c in getattr(param.type, "choices", ())]
    out[" ".join(path) or "watchkeeper"] = [result.exit_code, result.output, names]
# a choice of one command (a journal kind, a period) is an identifier wherever a help names it
everywhere = sorted({n for _, _, names in out.values() for n in names})
print(json.dumps({k: [code, text, everywhere] for k, (code, text, _) in out.items()}))
"""
#: Metavars (upper-case value placeholders) and strftime patterns are part of the command line.
HELP_ONLY = re.compile(r"\b[A-Z][A-Z_]+\b|%[A-Za-z]|\bYYYY-MM-DD\b")


def test_every_help_is_chinese() -> None:
    env = {**os.environ, "WATCHKEEPER_LANG": "zh_CN"}
    result = subprocess.run([sys.executable, "-c", HELP_SCRIPT], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    helps = json.loads(result.stdout)
    assert len(helps) > 30 and "footage export" in helps
    found = {}
    for command, (code, text, names) in helps.items():
        assert code == 0, (command, text)
        runs = english_runs(HELP_ONLY.sub(" ", text), ALLOWED | {w for n in names for w in re.split(r"[-_]", n)})
        if runs:
            found[command] = runs
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())


@pytest.fixture(scope="module")
def zh_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The demo, run once with zh_CN for the tests below."""
    folder = tmp_path_factory.mktemp("zh") / "demo"
    env = {**os.environ, "WATCHKEEPER_LANG": "zh_CN"}
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "demo", "--folder", str(folder)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return folder, result


def test_demo_and_report_are_chinese(zh_demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, result = zh_demo
    env = {**os.environ, "WATCHKEEPER_LANG": "zh_CN"}
    # the default checklist's task ids are what `maintenance tick TASK` takes
    tasks = {word for task in DEFAULT_MAINTENANCE for word in task.id.split("-")}
    # a preset's name is the value `policies.preset` takes (the default one is not written in site.toml)
    presets = {word for name in PRESETS for word in name.split("-")}
    allowed = ALLOWED | config_names(folder / "site.toml") | command_names() | tasks | presets
    outputs = [("demo", result.stdout + result.stderr)]
    outputs += [(path.name, visible_text(path.read_text(encoding="utf-8")))
                for path in (folder / "reports").glob("*.html")]
    shown = subprocess.run([sys.executable, "-c", LISTS_SCRIPT, str(folder / "site.toml"), json.dumps(LISTS)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for command, code, text in json.loads(shown.stdout):
        assert code == 0, (command, text[-2000:])
        outputs.append((" ".join(command), text))
    outputs += [(label, produce(folder, env)) for label, produce in EXTRA_OUTPUTS]
    found = {label: new for label, text in outputs if (new := english_runs(text, allowed))}
    assert not found, "\n".join(f"{k}: {sorted(set(v))}" for k, v in found.items())


def test_config_errors_are_chinese(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[site]\nname = "x"\ntime_zone = "Mars/Base"\nstore = 5\nfoo = 1\n[policies]\n'
                    'clock_tolerance_seconds = -3\ninspection_times = ["8 pm"]\n[[cameras]]\nid = "a"\n'
                    'location = "TODO"\nplatform = "nosuch"\n[[duty]]\nshift = "09:00"\noperators = ["ghost"]\n',
                    encoding="utf-8")
    env = {**os.environ, "WATCHKEEPER_LANG": "zh_CN"}
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "config", "check", str(site)],
                            capture_output=True, text=True, env=env, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 2 and "处错误" in text and "site.time_zone" in text, text
    assert not english_runs(text, ALLOWED | {"Mars", "Base", "Asia", "Shanghai", "TODO", "nosuch", "ghost", "pm",
                                              "int"}), text
