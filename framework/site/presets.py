"""Sector presets: the figures each kind of site lives under, as defaults for `[policies]`.

A site names its sector with ``policies.preset``; the preset fills the policy values the site did not
write itself (retention of video and of access records, the fault-fix deadline, the clock tolerance).
A value written in site.toml always wins and is listed as an override. The sources of each figure,
and which ones could not be confirmed from a primary text, are in docs/presets.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from watchkeeper.core.i18n import _

#: The policy keys a preset sets, in the order the report lists them.
PRESET_KEYS = ("retention_days", "access_retention_days", "escalate_after_hours", "clock_tolerance_seconds")


@attrs.frozen
class Preset:
    """One sector's figures and the rule each comes from (a short citation; docs/presets.md has the rest)."""

    retention_days: int
    access_retention_days: int
    escalate_after_hours: float
    clock_tolerance_seconds: float
    basis: str

    def value(self, key: str) -> Any:
        return getattr(self, key)


#: Every preset by name, with a short citation (docs/presets.md quotes each clause and says how sure it is).
#: Clock tolerance stays at the regulation's own 30 s (R7: 误差不大于30秒) in every sector: no sector rule
#: found asks for less, and a preset never loosens the regulation. The hotel preset keeps the national
#: floor: the national hotel rule sets no period, and the 90 days once used came from a 2017 draft never
#: enacted; a hotel designated a key target takes the key-target preset.
PRESETS: Mapping[str, Preset] = {
    "general": Preset(30, 30, 24.0, 30.0,
                      "公共安全视频图像信息系统管理条例 (国务院令第799号) art. 17: video kept at least 30 days"),
    "hotel": Preset(30, 30, 24.0, 30.0,
                    "旅馆业治安管理办法 sets no period; 公共安全视频图像信息系统管理条例 art. 17: at least 30 days"),
    "key-target": Preset(90, 90, 24.0, 30.0,
                         "反恐怖主义法 art. 32: key targets keep video at least 90 days"),
    "bank": Preset(30, 180, 24.0, 30.0,
                   "GA 38-2015 as quoted (GA 38-2021 not seen): video at least 30 days, access-control records "
                   "at least 180 days"),
    "school": Preset(30, 30, 24.0, 30.0,
                     "GB/T 29315-2012 as quoted (2022 edition not seen): video at least 30 days, faults fixed "
                     "within 24 h"),
}
DEFAULT_PRESET = "general"


def basis_text(name: str) -> str:
    """The rule a preset's figures come from, in the current language (the report shows it)."""
    texts = {
        "general": _("公共安全视频图像信息系统管理条例, article 17: video kept at least 30 days"),
        "hotel": _("旅馆业治安管理办法 sets no period; 公共安全视频图像信息系统管理条例, article 17: video kept "
                   "at least 30 days"),
        "key-target": _("反恐怖主义法, article 32: video of key targets kept at least 90 days"),
        "bank": _("GA 38-2015 as quoted (GA 38-2021 not seen): video kept at least 30 days, access-control "
                  "records at least 180 days"),
        "school": _("GB/T 29315-2012 as quoted (2022 edition not seen): video kept at least 30 days, faults "
                    "fixed within 24 hours"),
    }
    return texts.get(name, PRESETS[name].basis if name in PRESETS else name)


def preset_problem(name: str) -> str | None:
    """Why `name` is not a preset, naming the ones there are, or None."""
    if name in PRESETS:
        return None
    return f"unknown preset {name!r}; one of {', '.join(PRESETS)}"


def preset_defaults(name: str) -> dict[str, Any]:
    """{policy key: value} the preset sets; the general preset's for an unknown name (reported already)."""
    preset = PRESETS.get(name, PRESETS[DEFAULT_PRESET])
    return {key: preset.value(key) for key in PRESET_KEYS}


def overrides(name: str, written: Mapping[str, Any]) -> tuple[str, ...]:
    """The preset's keys the site wrote itself in `[policies]`, in PRESET_KEYS order."""
    return tuple(key for key in PRESET_KEYS if key in written and key in preset_defaults(name))


def below_floor(name: str, written: Mapping[str, Any]) -> list[str]:
    """Warnings for retention values written below the preset's floor: allowed (the site decides), but said."""
    floors = preset_defaults(name)
    warnings = []
    for key in ("retention_days", "access_retention_days"):
        value = written.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < floors[key]:
            warnings.append(f"policies.{key} = {value} is below the {name} preset's {floors[key]} days")
    return warnings
