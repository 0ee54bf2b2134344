"""Config inputs are bounded: secret files, the file's size and nesting, and every number's range."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from watchkeeper.site.config import ConfigError, load_site
from watchkeeper.site.limits import MAX_CONFIG_BYTES

SITE = """\
[site]
name = "Bounds"
{extra}
"""
CAMERA = """\
[[cameras]]
id = "gate"
location = "gate"
purpose = "plates"
zone = "z"
platform = "hikvision"
host = "10.0.0.3"
{extra}
"""


def problems(tmp_path: Path, text: str) -> str:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_site(path, platforms=None)
    return raised.value.render()


def check_in_child(config: Path, memory_mb: int = 2048) -> subprocess.CompletedProcess[str]:
    """`config check` in a child with bounded address space, so the unbounded failure is an error, not a swap storm."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))

    return subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "config", "check", str(config)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)


def test_a_secret_from_dev_zero_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(SITE.format(extra="") + CAMERA.format(extra='password = "file:/dev/zero"'))
    result = check_in_child(config)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cameras[id=gate].password: secret file /dev/zero: is a device, FIFO or socket, not a regular file" in result.stderr


def test_a_secret_from_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pass")
    config = tmp_path / "site.toml"
    config.write_text(SITE.format(extra="") + CAMERA.format(extra='password = "file:pass"'))
    result = check_in_child(config)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize(("content", "reason"), [
    ("x" * 5000, "is larger than 4 KiB"), (None, "is a folder, not a regular file"), (b"\xff\xfe", "is not UTF-8 text"),
])
def test_secret_files_are_small_regular_text(tmp_path: Path, content: str | bytes | None, reason: str) -> None:
    secret = tmp_path / "pass"
    if content is None:
        secret.mkdir()
    elif isinstance(content, bytes):
        secret.write_bytes(content)
    else:
        secret.write_text(content)
    assert reason in problems(tmp_path, SITE.format(extra="") + CAMERA.format(extra='password = "file:pass"'))


@pytest.mark.parametrize(("text", "reason"), [
    ("x = " + "[" * 5000 + "]" * 5000, "(syntax): arrays or inline tables nested deeper than 8 (line 1)"),
    ("x = " + "{a = " * 5000 + "1" + "}" * 5000, "(syntax): arrays or inline tables nested deeper than 8"),
    ("x." + ".".join(["a"] * 20000) + " = 1", "(syntax): a dotted key of more than 8 parts (line 1)"),
    ("[x.a.b.c.d]\ne.f.g.h = 1", "x.a.b.c.d.e.f.g: nested deeper than 8 tables or arrays"),
])
def test_toml_nesting_is_bounded(tmp_path: Path, text: str, reason: str) -> None:
    assert reason in problems(tmp_path, text)


def test_deep_toml_is_refused_by_config_check_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(SITE.format(extra="") + "[policies]\nthresholds = " + "[" * 5000 + "]" * 5000 + "\n")
    result = check_in_child(config)
    assert result.returncode == 2 and "nested deeper than 8" in result.stderr and "Traceback" not in result.stderr


def test_config_file_size_and_kind_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "site.toml"
    with big.open("wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError, match=r"\(file\): is larger than 4 MiB"):
        load_site(big)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_site(fifo)


@pytest.mark.parametrize(("table", "line", "reason"), [
    ("policies", "timeout = 1", None),
    ("policies", "retention_days = 1000000000000000000", "policies.retention_days: must be from 1 to 3650, not 1000000000000000000"),
    ("policies", "frame_interval_seconds = 1e9", "policies.frame_interval_seconds: must be more than 0 and at most 10"),
    ("policies", "clock_tolerance_seconds = nan", "must be more than 0 and at most 3600, not nan"),
    ("policies", "playback_seconds = inf", "must be more than 0 and at most 600, not inf"),
    ("camera", "timeout_seconds = 1e308", "cameras[id=gate].timeout_seconds: must be from 0.1 to 300, not 1e+308"),
    ("camera", "channel = 99999999999999999999", "cameras[id=gate].channel: must be from 1 to 1024"),
    ("camera", "retention_days = 0", "cameras[id=gate].retention_days: must be from 1 to 3650, not 0"),
])
def test_numbers_out_of_range_name_the_key(tmp_path: Path, table: str, line: str, reason: str | None) -> None:
    extra = f"[policies]\n{line}\n" if table == "policies" else ""
    text = SITE.format(extra=extra) + CAMERA.format(extra=line if table == "camera" else "")
    rendered = problems(tmp_path, text)
    assert reason is None and "unknown key" in rendered or reason in rendered


def test_the_top_of_every_range_loads(tmp_path: Path) -> None:
    text = SITE.format(extra=textwrap.dedent("""\
        [policies]
        clock_tolerance_seconds = 3600
        retention_days = 3650
        gap_threshold_seconds = 86400
        inspection_frames = 50
        frame_interval_seconds = 10
        playback_seconds = 600
        """)) + CAMERA.format(extra="timeout_seconds = 300\nchannel = 1024\nport = 65535\nretention_days = 3650")
    (tmp_path / "site.toml").write_text(text)
    site = load_site(tmp_path / "site.toml", platforms=None)
    assert site.policies.retention_days == 3650 and site.cameras[0].timeout_seconds == 300
