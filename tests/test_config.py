"""Site config: every mistake reported at once with file and key path; secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.site.config import ConfigError, load_site

BROKEN = """\
[site]
name = "Broken"
time_zone = "Mars/Olympus"

[[recorders]]
id = "nvr-1"
platform = "acme"
host = "10.0.0.9"
password = "env:WK_TEST_MISSING_VARIABLE"

[[cameras]]
id = "gate"
platform = "hikvision_typo"
location = "Gate"
purpose = "vehicles"
zone = "perimeter"
retention_days = "thirty"

[[cameras]]
id = "lobby"
location = "Lobby"
purpose = "people"
zone = "inside"
profile = "sunset"
retention_dayz = 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads(site_file: Path) -> None:
    site = load_site(site_file, platforms={})
    assert site.name == "Test site"
    assert site.zone.key == "Asia/Shanghai"
    assert site.policies.clock_tolerance_seconds == 30.0
    assert [p.id for p in site.people] == ["li", "zhang", "new-op"]
    assert site.person("li").trained_on.isoformat() == "2025-03-01"
    assert site.store == site_file.parent / "data" / "watchkeeper.db"


def test_every_mistake_is_listed_with_its_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WK_TEST_MISSING_VARIABLE", raising=False)
    path = write(tmp_path, BROKEN)
    with pytest.raises(ConfigError) as caught:
        load_site(path, platforms={"hikvision": {"camera"}, "dahua": {"camera"}, "onvif": {"camera"}})
    problems = {(p.path, p.reason.split(";")[0]) for p in caught.value.problems}
    paths = {p.path for p in caught.value.problems}
    assert "site.time_zone" in paths
    assert ("recorders[id=nvr-1].platform", "unknown platform 'acme'") in problems
    assert any(p.path == "recorders[id=nvr-1].platform" and "installed camera platforms: dahua, hikvision, onvif" in p.reason
               for p in caught.value.problems)
    assert ("recorders[id=nvr-1].password", "environment variable WK_TEST_MISSING_VARIABLE is not set") in problems
    assert "cameras[id=gate].platform" in paths
    assert any(p.path == "cameras[id=gate].host" and "required" in p.reason for p in caught.value.problems)
    assert any(p.path == "cameras[id=gate].retention_days" and "integer" in p.reason for p in caught.value.problems)
    assert any(p.path == "cameras[id=lobby].host" for p in caught.value.problems)
    assert any(p.path == "cameras[id=lobby].profile" and "day, night, ir" in p.reason for p in caught.value.problems)
    assert any(p.path == "cameras[id=lobby].retention_dayz" and "did you mean 'retention_days'" in p.reason
               for p in caught.value.problems)
    rendered = caught.value.render()
    assert all(line.startswith(str(path)) for line in rendered.splitlines())


def test_config_check_cli_lists_all_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WK_TEST_MISSING_VARIABLE", raising=False)
    path = write(tmp_path, BROKEN)
    result = CliRunner().invoke(make_cli(config=path), ["config", "check", str(path)])
    assert result.exit_code == 2
    for key in ("recorders[id=nvr-1].platform", "cameras[id=gate].host", "cameras[id=gate].retention_days"):
        assert f"{path}: {key}:" in result.output
    # The appliance's shell may set what the checking shell does not: a warning here, an error for `run`.
    assert f"{path}: recorders[id=nvr-1].password:" not in result.output


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nname = "x\n')
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert str(path) in caught.value.render() and "line 2" in caught.value.render()


def test_secrets_by_reference_and_inline_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK_CAM_PASSWORD", "s3cret-from-env")
    (tmp_path / "nvr.pass").write_text("s3cret-from-file\n")
    path = write(tmp_path, """\
[site]
name = "Secrets"
[[recorders]]
id = "a"
platform = "x"
host = "127.0.0.1"
password = "env:WK_CAM_PASSWORD"
[[recorders]]
id = "b"
platform = "x"
host = "127.0.0.1"
password = "file:nvr.pass"
[[recorders]]
id = "c"
platform = "x"
host = "127.0.0.1"
password = "inline-secret"
""")
    site = load_site(path)
    assert site.recorder("a").password.reveal() == "s3cret-from-env"
    assert site.recorder("b").password.reveal() == "s3cret-from-file"
    assert "s3cret" not in repr(site.recorders)
    assert site.warnings == ("recorders[id=c].password: secret written inline; use env:NAME or file:PATH",)


def test_config_check_ok(site_file: Path) -> None:
    result = CliRunner().invoke(make_cli(config=site_file), ["config", "check", str(site_file)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "3 people" in result.output


def test_threshold_names_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[site]
name = "Thresholds"
[policies.thresholds.night]
weakest_sharpnes_min = 0.4
dark_mean_min = 12
[policies.thresholds.dusk]
dark_mean_min = 1
""")
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    reasons = {p.path: p.reason for p in caught.value.problems}
    assert "did you mean weakest_sharpness_min" in reasons["policies.thresholds.night.weakest_sharpnes_min"]
    assert "unknown profile" in reasons["policies.thresholds.dusk"]
    path.write_text(path.read_text().replace("sharpnes_min", "sharpness_min").split("[policies.thresholds.dusk]")[0])
    assert load_site(path).policies.thresholds == {"night": {"weakest_sharpness_min": 0.4, "dark_mean_min": 12.0}}


def test_a_door_platform_cannot_drive_a_camera(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[site]
name = "Kinds"
[[cameras]]
id = "c"
platform = "osdp"
host = "127.0.0.1"
location = "x"
purpose = "y"
zone = "z"
[[doors]]
id = "d"
platform = "hikvision"
""")
    with pytest.raises(ConfigError) as caught:
        load_site(path, {"osdp": {"door"}, "hikvision": {"camera"}})
    reasons = {p.path: p.reason for p in caught.value.problems}
    assert reasons["cameras[id=c].platform"] == "platform 'osdp' has no camera driver; camera platforms: hikvision"
    assert reasons["doors[id=d].platform"] == "platform 'hikvision' has no door driver; door platforms: osdp"


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text().split("## Example")[1]
    example = text.split("```toml\n")[1].split("```")[0]
    for name in ("nvr-1.pass", "reader.key"):
        (tmp_path / name).write_text("secret\n")
    example = example.replace("/etc/watchkeeper/", f"{tmp_path}/").replace("/var/lib/watchkeeper/", f"{tmp_path}/")
    site = load_site(write(tmp_path, example), {"hikvision": {"camera"}, "osdp": {"door"}})
    assert site.camera("gate").recorder == "nvr-1" and site.policies.thresholds == {"night": {"dark_mean_min": 15.0}}


def test_allowed_hours_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nname = "Hours"\n[[people]]\nid = "a"\nname = "A"\nroles = ["operator"]\nhours = "7-19"\n'
                           '[[people]]\nid = "b"\nname = "B"\nroles = ["operator"]\nhours = "22:00-06:00"\n')
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert [(p.path, p.reason) for p in caught.value.problems] == [
        ("people[id=a].hours", "'7-19' is not a range of hours like 07:00-19:00 (22:00-06:00 spans midnight)")]
