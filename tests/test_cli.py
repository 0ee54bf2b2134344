"""Core CLI commands that need no device: help, probe URL errors, simulate errors."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.cli.probe import parse_device_url


def test_help_lists_core_commands() -> None:
    result = CliRunner().invoke(make_cli(), ["--help"])
    for command in ("config", "journal", "plugins", "probe", "simulate"):
        assert command in result.output


def test_probe_url_parsing() -> None:
    endpoint = parse_device_url("hikvision://admin:p%40ss@10.1.2.3:8080", {"hikvision": 80})
    assert (endpoint.platform, endpoint.host, endpoint.port, endpoint.username) == ("hikvision", "10.1.2.3", 8080, "admin")
    assert endpoint.password.reveal() == "p@ss"
    assert parse_device_url("hikvision://admin@10.1.2.3", {"hikvision": 80}).port == 80
    with pytest.raises(click.BadParameter, match="unknown platform 'acme'"):
        parse_device_url("acme://10.1.2.3", {"hikvision": 80})


def test_probe_unknown_platform_is_a_usage_error() -> None:
    result = CliRunner().invoke(make_cli(), ["probe", "acme://u:secretpw@127.0.0.1:1"])
    assert result.exit_code == 2 and "unknown platform" in result.output
    assert "secretpw" not in result.output


def test_simulate_unknown_platform() -> None:
    result = CliRunner().invoke(make_cli(), ["simulate", "acme"])
    assert result.exit_code == 2 and "no simulator for 'acme'" in result.output


def test_simulate_recorder_mode_only_where_supported() -> None:
    result = CliRunner().invoke(make_cli(), ["simulate", "osdp", "--channels", "4", "--password", "00" * 16])
    assert result.exit_code == 2 and "no recorder mode" in result.output
