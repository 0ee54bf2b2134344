"""Every command, driven with bad ids and bad values, answers with a message and its documented exit
code (docs/cli.md), never a traceback (issue 13, item 13).

The table must name every command the CLI has, so a new command cannot skip the audit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from watchkeeper.rules import door_service
from watchkeeper.testing import free_port
from tests.logins import proven, shared_fd

pytestmark = pytest.mark.timeout(300)

OK, FOUND, USAGE, DEVICE = EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ENVIRONMENT
SPAN = ["--from", "2026-01-01T00:00", "--to", "2026-01-02T00:00", "--reason", "audit"]

#: command -> [(arguments after the command, exit code, text the output must hold)]; {dir} is the
#: site's folder. A dead camera and a dead reader make the device cases.
CASES: dict[str, list[tuple[list[str], int, str]]] = {
    "analyze": [(["{dir}/missing.jpg"], USAGE, "cannot read"), (["{dir}/notimage.jpg"], USAGE, "not a readable image"),
                (["--threshold", "x", "{dir}/notimage.jpg"], USAGE, "is not NAME=NUMBER")],
    "backup": [(["--to", "{dir}/backups", "--actor", "nobody"], FOUND, "refused")],
    "backup list": [(["{dir}/no-backups"], USAGE, "does not exist")],
    "backup verify": [(["{dir}/notimage.jpg"], USAGE, "is a file")],
    "baseline capture": [(["--camera", "nope", "--actor", "li"], USAGE, "not in the site config: nope"),
                         (["--actor", "nobody"], FOUND, "refused")],
    "check": [(["nope"], USAGE, "no check 'nope'"), (["clock", "--only", "nope"], USAGE, "not in the site config")],
    "clock": [(["--only", "nope"], USAGE, "not in the site config"), ([], FOUND, "unreachable")],
    "config check": [(["{dir}/missing.toml"], USAGE, "does not exist"), (["{dir}/broken.toml"], USAGE, "cameras[id=x].profile")],
    "demo": [(["--folder", "{dir}/full"], USAGE, "is not empty"), (["--cameras", "-1"], USAGE, "-1 is not in the range")],
    "duty accept": [(["999", "--actor", "li"], USAGE, "no handover 999")],
    "duty handover": [(["--to", "zhang", "--actor", "li"], FOUND, "refused")],
    "duty handovers": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "duty set": [(["--date", "bad", "--shift", "08:00", "--operator", "li", "--actor", "zhang"], USAGE, "is not a date"),
                 (["--date", "2026-01-01", "--shift", "09:13", "--operator", "li", "--actor", "zhang"], USAGE,
                  "is not a shift start")],
    "duty show": [(["--from", "bad"], USAGE, "is not a date")],
    "estate clear": [(["nope", "--reason", "x", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate enrol": [(["not a site", "--reason", "x", "--config", "{dir}/missing.toml"], USAGE, "a site id is"),
                     (["site-1", "--reason", "x", "--config", "{dir}/missing.toml"], USAGE, "does not exist"),
                     (["site-1", "--config", "{dir}/missing.toml"], USAGE, "Missing option '--reason'")],
    "estate people add": [(["not a person", "--role", "admin", "--reason", "x"], USAGE, "a person id is"),
                          (["ann", "--role", "boss", "--reason", "x"], USAGE, "'boss' is not one of")],
    "estate people list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate people passwd": [(["ann", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate people revoke": [(["ann", "--reason", "x", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate people token": [(["ann", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate people unlock": [(["ann", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate verify": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate heads": [(["nope", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate push": [([], USAGE, "has no [estate] table")],
    "estate report": [(["--period", "year"], USAGE, "'year' is not one of"),
                      (["--ending", "bad"], USAGE, "estate.toml: (file): does not exist")],
    "estate revoke": [(["nope", "--reason", "x", "--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "estate serve": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "findings ack": [(["999", "--actor", "li"], USAGE, "no finding 999")],
    "findings assign": [(["999", "--to", "li", "--actor", "zhang"], USAGE, "no finding 999")],
    "findings close": [(["999", "--reason", "x", "--actor", "zhang"], USAGE, "no finding 999")],
    "findings list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "findings note": [(["999", "hello", "--actor", "li"], USAGE, "no finding 999")],
    "findings show": [(["999"], USAGE, "no finding 999")],
    "discover": [(["--timeout", "-1"], USAGE, "-1.0 is not in the range")],
    "door enroll": [(["--port", "{dead}", "{dir}/bad.key"], USAGE, "must be 32 hex digits")],
    "door open": [(["nope", "--actor", "li"], USAGE, "no door 'nope'"), (["room", "--actor", "nobody"], FOUND, "refused"),
                  (["room", "--actor", "li", "--seconds", "-1"], USAGE, "not in the range"),
                  (["room", "--actor", "li"], DEVICE, "unreachable: reader is offline")],
    "door probe": [(["--key", "env:WK_AUDIT_UNSET"], USAGE, "WK_AUDIT_UNSET is not set"),
                   (["--key", "file:{dir}/bad.key"], USAGE, "must be 32 hex digits")],
    "door status": [(["nope"], USAGE, "no door 'nope'"), (["room"], FOUND, "reader_offline")],
    "footage approve": [(["999", "--actor", "zhang"], USAGE, "no footage request 999"),
                        (["abc", "--actor", "zhang"], USAGE, "is not a valid integer")],
    "footage delete": [(["999", "--actor", "zhang"], USAGE, "no footage export 999")],
    "footage export": [(["999", "--actor", "li"], USAGE, "no footage request 999")],
    "footage device-log": [(["--device", "nope"], USAGE, "not in the site config: nope")],
    "footage view": [(["999", "--actor", "li"], USAGE, "no request 999")],
    "footage hold": [(["--camera", "nope", *SPAN, "--actor", "zhang"], USAGE, "no camera 'nope'"),
                     (["--camera", "desk", "--from", "2026-01-02T00:00", "--to", "2026-01-01T00:00", "--reason", "x",
                       "--actor", "zhang"], USAGE, "must end after it starts")],
    "footage list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "forms": [(["visitors", "--actor", "li", "--out", "{dir}/visitors.pdf"], USAGE, "give --period"),
              (["visitors", "--actor", "li", "--period", "soon", "--out", "{dir}/visitors.pdf"], USAGE, "is not a period"),
              (["nope", "--actor", "li", "--blank", "--out", "{dir}/x.pdf"], USAGE, "is not one of"),
              (["visitors", "--actor", "li", "--blank", "--out", "{dir}/missing/x.pdf"], USAGE, "does not exist")],
    "export": [(["journal", "--actor", "li", "--period", "2026-13", "--out", "{dir}/j.xlsx"], USAGE, "is not a period"),
               (["journal", "--actor", "li", "--period", "day", "--format", "csv", "--out", "{dir}/j.xlsx"], USAGE, "Invalid value for '--format'"),
               (["journal", "--actor", "li", "--period", "day", "--out", "{dir}"], USAGE, "is a folder")],
    "footage request": [(["--camera", "nope", *SPAN, "--actor", "li"], USAGE, "no camera 'nope'"),
                        (["--camera", "desk", "--from", "yesterday", "--to", "2026-01-02T00:00", "--reason", "x",
                          "--actor", "li"], USAGE, "is not a date-time")],
    "inspect": [(["--camera", "nope", "--actor", "li"], USAGE, "not in the site config"),
                ([], USAGE, "say who you are with --actor"), (["--actor", "li", "--no-playback"], FOUND, "unreachable")],
    "inspect sign": [(["--run", "999", "--actor", "li"], USAGE, "no inspection run 999")],
    "journal add": [(["--kind", "operation", "--text", "x", "--actor", "nobody"], FOUND, "refused"),
                    (["--kind", "gossip", "--text", "x", "--actor", "li"], USAGE, "'gossip' is not one of")],
    "journal close-day": [(["--summary", "x", "--day", "bad", "--actor", "li"], USAGE, "is not a date")],
    "journal show": [(["--since", "bad"], USAGE, "is not a date")],
    "journal verify": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist"),
                       (["--witness", "{dir}/notimage.jpg"], USAGE, "not a JSON head")],
    "journal heads": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "maintenance list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "maintenance countersign": [(["999", "--actor", "zhang"], USAGE, "no maintenance tick 999")],
    "maintenance tick": [(["nope", "--actor", "li"], USAGE, "no maintenance task 'nope'")],
    "people add": [(["--id", "x", "--name", "y", "--role", "operator", "--hours", "25:00", "--actor", "admin"], USAGE,
                    "'25:00' is not a range of hours"),
                   (["--id", "x", "--name", "y", "--role", "boss", "--actor", "admin"], USAGE, "'boss' is not one of")],
    "people passwd": [(["nope", "--new-password-fd", "0"], FOUND, "not a current person"),
                      (["li", "--actor", "admin", "--new-password-fd", "987"], USAGE, "is not open")],
    "people token": [(["nope", "--actor", "admin"], FOUND, "not a current person")],
    "people unlock": [(["nope", "--actor", "admin"], USAGE, "has no login")],
    "people list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "people revoke": [(["nope", "--actor", "admin"], USAGE, "no person 'nope'")],
    "people train": [(["nope", "--course", "c", "--date", "2026-01-01", "--trainer", "t", "--actor", "admin"], USAGE,
                      "no person 'nope'"),
                     (["li", "--course", "c", "--date", "bad", "--trainer", "t", "--actor", "admin"], USAGE,
                      "does not match the format")],
    "plugins": [([], OK, "watchkeeper.rules.footage")],
    "probe": [(["acme://x"], USAGE, "unknown platform 'acme'"),
              (["hikvision://127.0.0.1:{dead}", "--timeout", "0.5"], FOUND, "unreachable")],
    "report": [(["--ending", "bad"], USAGE, "is not a date"), (["--period", "year"], USAGE, "'year' is not one of")],
    "new-plugin": [(["Not A Name", "--directory", "{dir}"], USAGE, "is not a platform name"),
                   (["hikvision", "--directory", "{dir}"], USAGE, "already installed")],
    "restore": [(["{dir}/no-backup", "--actor", "admin"], USAGE, "does not exist")],
    "review list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "review sign": [(["--report", "999", "--comments", "x", "--actor", "zhang"], USAGE, "no journaled report at entry 999"),
                    (["--period", "year", "--comments", "x", "--actor", "zhang"], USAGE, "'year' is not one of")],
    "scope approve": [(["--camera", "nope", "--actor", "zhang"], USAGE, "no camera 'nope'")],
    "scope status": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "service install": [(["--listen", "bad", "--unit-dir", "{dir}/units"], USAGE, "is not HOST:PORT")],
    "service status": [(["--config", "{dir}/missing.toml", "--bogus"], USAGE, "No such option")],
    "retention": [(["--only", "nope"], USAGE, "not in the site config"), ([], FOUND, "unreachable")],
    "run": [(["--listen", "bad"], USAGE, "is not HOST:PORT")],
    "simulate": [(["nope"], USAGE, "no simulator for 'nope'"), (["hikvision", "--faults", "nonsense"], USAGE, "unknown fault"),
                 (["osdp", "--password", "nothex"], USAGE, "32 hex digits")],
    "visitor approve": [(["999", "--actor", "zhang"], USAGE, "no visitor 999")],
    "visitor checkout": [(["999", "--actor", "li"], USAGE, "no visitor 999")],
    "visitor list": [(["--config", "{dir}/missing.toml"], USAGE, "does not exist")],
    "visitor register": [(["--name", "a", "--organisation", "b", "--purpose", "c", "--host", "nope", "--from",
                           "2026-01-01T09:00", "--to", "2026-01-01T10:00", "--badge", "1", "--actor", "li"], USAGE,
                          "host 'nope' is not a person"),
                         (["--name", "a", "--organisation", "b", "--purpose", "c", "--host", "li", "--from",
                           "2026-01-01T09:00", "--to", "2026-01-01T08:00", "--badge", "1", "--actor", "li"], USAGE,
                          "must end after it starts")],
    "web": [(["--listen", "bad"], USAGE, "is not HOST:PORT")],
    "worker": [([], USAGE, "no [distributed] section"),
               (["--config", "{dir}/distributed.toml"], DEVICE, "does not answer"),
               (["--config", "{dir}/distributed.toml", "--jobs", "0"], USAGE, "0 is not in the range")],
}

SITE = """\
[site]
name = "Audit"
time_zone = "Asia/Shanghai"
store = "state/watchkeeper.db"
journal_key = "state/journal.key"
[[cameras]]
id = "desk"
location = "Desk"
purpose = "visitors"
zone = "public"
platform = "hikvision"
host = "127.0.0.1"
port = {dead}
timeout_seconds = 0.5
[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
port = {dead}
scbk = "00112233445566778899aabbccddeeff"
[[people]]
id = "li"
name = "Li"
roles = ["operator"]
trained_on = 2025-01-01
[[people]]
id = "zhang"
name = "Zhang"
roles = ["supervisor"]
[[people]]
id = "admin"
name = "Admin"
roles = ["administrator"]
"""


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> set[str]:
    names = set()
    if prefix and getattr(group, "invoke_without_command", False):
        names.add(" ".join(prefix))
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= leaf_commands(command, (*prefix, name))
        else:
            names.add(" ".join((*prefix, name)))
    return names


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    base = tmp_path_factory.mktemp("audit")
    dead = free_port()
    (base / "site.toml").write_text(textwrap.dedent(SITE.format(dead=dead)), encoding="utf-8")
    (base / "broken.toml").write_text('[site]\nname = "B"\n[[cameras]]\nid = "x"\nlocation = "l"\npurpose = "p"\n'
                                      'zone = "z"\nplatform = "hikvision"\nhost = "h"\nprofile = "dusk"\n')
    (base / "distributed.toml").write_text(textwrap.dedent(SITE.format(dead=dead))
                                           + f'[distributed]\nurl = "redis://127.0.0.1:{dead}/0"\n')
    (base / "bad.key").write_text("not hex\n")
    (base / "notimage.jpg").write_text("not an image")
    (base / "full").mkdir()
    (base / "full" / "something").write_text("x")
    return base, dead


def test_every_command_is_audited() -> None:
    assert leaf_commands(make_cli()) == set(CASES)


@pytest.mark.parametrize(("command", "args", "code", "text"),
                         [(command, args, code, text) for command, cases in CASES.items()
                          for args, code, text in cases],
                         ids=lambda value: value if isinstance(value, str) else None)
def test_bad_input_gets_a_message_and_its_exit_code(folder, monkeypatch, command, args, code, text) -> None:
    base, dead = folder
    monkeypatch.delenv("WK_AUDIT_UNSET", raising=False)
    monkeypatch.chdir(base)  # demo's default folder, if it got that far
    # The door on a dead port never answers: judged offline after 1 s of waiting as after the 10 s a
    # real reader gets to answer its first polls.
    monkeypatch.setattr(door_service, "FIRST_ANSWER_SECONDS", 1.0)
    args = [arg.format(dir=base, dead=dead) for arg in args]
    config = next((args[i + 1] for i, arg in enumerate(args) if arg == "--config"), str(base / "site.toml"))
    args = [arg for i, arg in enumerate(args) if arg != "--config" and (i == 0 or args[i - 1] != "--config")]
    result = CliRunner().invoke(make_cli(config=Path(config)), proven(["--config", config, *command.split(), *args]))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    assert text in result.output, result.output


@pytest.mark.parametrize("args", [["footage", "approve", "999", "--actor", "zhang"],
                                  ["inspect", "sign", "--run", "999", "--actor", "li"],
                                  ["report", "--ending", "bad"]], ids=lambda a: " ".join(a[:2]))
def test_the_installed_command_prints_no_traceback(folder, args) -> None:
    base, _dead = folder
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli",
                             *proven(["--config", str(base / "site.toml"), *args])],
                            capture_output=True, text=True, timeout=120, pass_fds=(shared_fd(),))
    assert result.returncode == USAGE and "Traceback" not in result.stderr, result.stderr
