"""A third-party plugin ships its own zh_CN catalogue (hook register_catalogues): its reasons read in
Chinese, stay English in the evidence, and `new-plugin` writes a package whose reasons are translatable."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from watchkeeper.core import i18n
from watchkeeper.core.i18n import Text, choose_language, localize
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.scaffold import TEMPLATE
from watchkeeper.host.pluginhost import BUILTIN_PLUGINS, PluginLoadError, collect_platforms, load_plugins
from watchkeeper.testing.catalogues import untranslated


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`watchkeeper new-plugin acme_cam`, importable from its src/ folder; catalogues restored after."""
    made = CliRunner().invoke(make_cli(), ["new-plugin", "acme_cam", "--directory", str(tmp_path)])
    assert made.exit_code == 0, made.output
    source = tmp_path / "watchkeeper-acme-cam" / "src"
    monkeypatch.syspath_prepend(str(source))
    before = list(i18n._catalogues)
    yield source / "watchkeeper_acme_cam"
    i18n._catalogues[:] = before
    i18n._translation.cache_clear()
    for name in [n for n in sys.modules if n.startswith("watchkeeper_acme_cam")]:
        del sys.modules[name]


def zh(text: str) -> str:
    choose_language("zh_CN")
    try:
        return localize(text)
    finally:
        choose_language(None)


def test_a_plugins_own_reason_reads_in_chinese(acme: Path, tmp_path: Path) -> None:
    pm = load_plugins(builtins=(*BUILTIN_PLUGINS, "watchkeeper_acme_cam"), entry_points=False)
    platform = collect_platforms(pm)["acme_cam"]

    async def clip_too_large() -> DeviceError:
        async with platform.simulator(password="pw") as (device,):  # type: ignore[misc]
            endpoint = attrs.evolve(device.endpoint, options={"max_clip_bytes": 1})
            driver = platform.camera_driver(endpoint)
            end = datetime.now(timezone.utc)
            try:
                await driver.download_clip(1, end - timedelta(seconds=10), end, tmp_path / "clip.avi")
            except DeviceError as error:
                return error
            finally:
                await driver.close()
        raise AssertionError("a 1-byte limit let a clip through")

    error = asyncio.run(clip_too_large())
    finding = error.finding("acme-gate").to_dict()
    # the evidence keeps the English text and the msgid; the reader gets the plugin's own translation
    assert finding["reason"] == "clip: larger than 1 bytes"
    assert zh(Text.from_json(finding["reason_msg"])) == "下载录像片段：超过 1 字节"
    # watchkeeper's catalogue does not have it: without the plugin's registration it stays English
    i18n.remove_catalogue("watchkeeper_acme_cam", acme / "locale")
    assert zh(Text.from_json(finding["reason_msg"])) == "clip: larger than 1 bytes"


def test_watchkeeper_translations_come_first(tmp_path: Path) -> None:
    """A plugin catalogue adds words; it cannot re-word watchkeeper's terms (docs/glossary.md)."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="zh_CN", charset="utf-8")
    catalog.add("{what}: empty clip", "{what}：空的")
    catalog.add("{what}: the widget jammed", "{what}：小部件卡住了")
    folder = tmp_path / "locale" / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "widgets.mo").open("wb") as handle:
        write_mo(handle, catalog)
    i18n.add_catalogue("widgets", tmp_path / "locale")
    try:
        assert zh(Text("{what}: empty clip", what="x")) == "x：录像片段为空"
        assert zh(Text("{what}: the widget jammed", what="x")) == "x：小部件卡住了"
    finally:
        i18n.remove_catalogue("widgets", tmp_path / "locale")
    assert zh(Text("{what}: the widget jammed", what="x")) == "x: the widget jammed"


def test_the_template_writes_every_reason_translatable_and_translated(acme: Path) -> None:
    baked = re.compile(r"(protocol_error|CapabilityMissing|DeviceError)\((?!N_\()(?!FindingKind\.\w+, N_\()")
    found = [f"{path.name}:{n}: {line.strip()}" for path in sorted(TEMPLATE.rglob("*.tmpl"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if baked.search(line)]
    assert not found, "a reason must be N_(...), not an f-string or a plain string:\n" + "\n".join(found)
    assert untranslated(acme, "watchkeeper_acme_cam", acme / "locale") == []


def test_a_bad_catalogue_registration_names_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "words.py").write_text(
        "from pathlib import Path\nfrom watchkeeper import hookimpl\n\n@hookimpl\n"
        "def register_catalogues(register):\n    register('words', Path(__file__).with_name('no-such-locale'))\n",
        encoding="utf-8")
    with pytest.raises(PluginLoadError, match=r"plugin 'site:words.py': catalogue 'words'"):
        load_plugins(tmp_path, builtins=(), entry_points=False)
