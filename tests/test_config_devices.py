"""Per-device `options` validated by the platform that owns them, config errors that name items by
id, recorder channels within the recorder's channels, and `env:` secrets that are a warning to
`config check` but an error to `run` (issue 13, item 14)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.devices.drivers import Platform, in_range, option_problem
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.host.pluginhost import collect_platforms, load_plugins
from watchkeeper.site.config import ConfigError, load_site, platform_kinds, platform_options

SITE = """\
[site]
name = "Options"
store = "state/watchkeeper.db"
journal_key = "state/journal.key"

[[recorders]]
id = "nvr-1"
platform = "hikvision"
host = "127.0.0.1"
channels = 4
options = {{ search_times_utc = true, rtsp_port = 8554 }}

[[cameras]]
id = "gate"
location = "Gate"
purpose = "vehicles"
zone = "perimeter"
recorder = "nvr-1"
recorder_channel = {gate_channel}

[[cameras]]
id = "lobby"
location = "Lobby"
purpose = "people"
zone = "inside"
platform = "hikvision"
host = "127.0.0.1"
[cameras.options]
{lobby_options}

[[doors]]
id = "room"
platform = "osdp"
host = "127.0.0.1"
scbk = "00112233445566778899aabbccddeeff"
options = {{ offline_after = 2, strike_output = 1 }}
"""


def write(tmp_path: Path, gate_channel: int = 2, lobby_options: str = "max_clip_bytes = 1000000") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(SITE.format(gate_channel=gate_channel, lobby_options=lobby_options)),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def platforms() -> dict[str, Platform]:
    return collect_platforms(load_plugins())


def load(path: Path, platforms: dict[str, Platform], **kwargs):
    return load_site(path, platform_kinds(platforms), platform_options(platforms), **kwargs)


def problems(path: Path, platforms: dict[str, Platform]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(path, platforms)
    return {p.path: p.reason for p in caught.value.problems}


def test_options_reach_the_driver_of_each_device(tmp_path: Path) -> None:
    app = open_site(write(tmp_path))
    try:
        recorder = app.recorder_endpoint("nvr-1")
        assert recorder.options == {"search_times_utc": True, "rtsp_port": 8554}
        assert app.camera_endpoint("gate").options == recorder.options  # a recorder camera is reached there
        assert app.camera_endpoint("lobby").options == {"max_clip_bytes": 1000000}
        assert app.driver(recorder)._search_local is False  # as docs/plugins/hikvision.md tells installers
        door = app.door_driver("room")
        assert door.endpoint.options == {"offline_after": 2, "strike_output": 1, "address": 0}
        assert door.output == 1
    finally:
        app.close()


def test_the_owning_platform_validates_options(tmp_path: Path, platforms) -> None:
    found = problems(write(tmp_path, lobby_options='search_time_utc = true\nrtsp_port = 70000\nmax_clip_bytes = "big"'),
                     platforms)
    assert found["cameras[id=lobby].options.search_time_utc"].startswith(
        "unknown option for platform hikvision; did you mean 'search_times_utc'?")
    assert found["cameras[id=lobby].options.rtsp_port"] == "must be 1 to 65535, not 70000"
    assert found["cameras[id=lobby].options.max_clip_bytes"] == "must be an integer, not str 'big'"
    assert len(found) == 3


def test_option_checks() -> None:
    assert option_problem(bool, True) is None and option_problem(bool, 1) == "must be true or false, not int 1"
    assert option_problem(float, 2) is None and option_problem(int, True) == "must be an integer, not bool True"
    check = in_range(float, low=0.1)
    assert check(0.5) is None and check(0) == "must be at least 0.1, not 0"


def test_errors_name_items_by_id_and_channels_are_bounded(tmp_path: Path, platforms) -> None:
    path = write(tmp_path, gate_channel=5)
    text = path.read_text().replace('zone = "inside"', 'zone = "inside"\nprofile = "sunset"')
    text += '\n[[cameras]]\nid = "yard"\nlocation = "Yard"\npurpose = "x"\nzone = "y"\nrecorder = "nvr-1"\nchannel = 5\n'
    text += '\n[[cameras]]\nid = "dock"\nlocation = "Dock"\npurpose = "x"\nzone = "y"\nrecorder = "nvr-1"\nrecorder_channel = 5\n'
    path.write_text(text)
    found = problems(path, platforms)
    assert found["cameras[id=lobby].profile"].startswith("must be one of day, night, ir")
    assert found["cameras[id=gate].recorder_channel"] == "recorder 'nvr-1' has 4 channels (recorders[id=nvr-1].channels)"
    assert found["cameras[id=yard].channel"] == "recorder 'nvr-1' has 4 channels (recorders[id=nvr-1].channels)"
    assert "cameras[id=dock].recorder_channel" in found
    assert not any("[2]" in key or "[3]" in key for key in found)


def test_two_cameras_on_one_recorder_channel(tmp_path: Path, platforms) -> None:
    path = write(tmp_path, gate_channel=3)
    path.write_text(path.read_text() + '\n[[cameras]]\nid = "dock"\nlocation = "Dock"\npurpose = "x"\nzone = "y"\n'
                                       'recorder = "nvr-1"\nrecorder_channel = 3\n')
    assert problems(path, platforms) == {
        "cameras[id=dock].recorder_channel": "recorder 'nvr-1' channel 3 is already camera 'gate'"}


def test_an_unset_env_secret_warns_in_config_check_and_fails_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WK_UNSET_NVR_PASSWORD", raising=False)
    path = write(tmp_path)
    path.write_text(path.read_text().replace('channels = 4\n', 'channels = 4\npassword = "env:WK_UNSET_NVR_PASSWORD"\n'))
    checked = CliRunner().invoke(make_cli(config=path), ["config", "check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert ("recorders[id=nvr-1].password: environment variable WK_UNSET_NVR_PASSWORD is not set in this shell"
            in checked.output)
    run = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "--config", str(path), "run", "--no-web"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "recorders[id=nvr-1].password: environment variable WK_UNSET_NVR_PASSWORD is not set" in run.stderr


def test_every_platform_declares_the_options_its_docs_give(tmp_path: Path, platforms) -> None:
    """An option the plugin's page tells installers to set is accepted; a bad value is refused."""
    path = tmp_path / "site.toml"
    path.write_text('[site]\nname = "GB"\n[[recorders]]\nid = "nvr-east"\nplatform = "gb28181"\nhost = "0.0.0.0"\n'
                    'port = 5060\noptions = { platform_id = "34020000002000000001", domain = "3402000000", '
                    'time_zone = "Asia/Shanghai", rtp_ports = "30000-30099" }\n')
    assert load(path, platforms).recorder("nvr-east").options["rtp_ports"] == "30000-30099"
    path.write_text(path.read_text().replace('domain = "3402000000"', 'domain = "3402"'))
    assert problems(path, platforms) == {"recorders[id=nvr-east].options.domain": "must be 10 digits, not '3402'"}


def test_every_option_a_driver_reads_is_declared(platforms) -> None:
    """A driver reading endpoint.options["x"] that its Platform does not declare could never be set."""
    import re

    plugins = Path(__file__).resolve().parents[1] / "plugins"
    read = re.compile(r"""options(?:\.get\(|\[)["']([a-z_]+)["']""")
    #: Door keys of their own in site.toml, put into the endpoint's options by the host.
    door_keys = {"address", "serial_port"}
    for name, platform in platforms.items():
        folder = plugins / name
        if not folder.is_dir():
            continue
        used = {key for path in folder.glob("*.py") if not path.name.startswith("sim")
                for key in read.findall(path.read_text(encoding="utf-8"))}
        assert used - door_keys <= set(platform.options), (name, sorted(used - door_keys - set(platform.options)))
