"""The vendor-plugin guides are generated from the code they describe and must not go stale."""

from __future__ import annotations

import inspect
from pathlib import Path

import attrs
import pytest

from watchkeeper.core import models
from watchkeeper.core.findings import FindingKind
from watchkeeper.devices import drivers
from watchkeeper.simulation.faults import FaultProfile, Hostile
from watchkeeper.testing import guides

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(("page", "document"), [("driver", "driver-contract.md"), ("simulator", "simulators.md")])
def test_guide_is_current(page: str, document: str) -> None:
    assert (DOCS / document).read_text(encoding="utf-8") == guides.PAGES[page](), (
        f"docs/{document} is stale: run `python -m watchkeeper.testing.guides {page} > docs/{document}`")


def test_driver_contract_lists_every_method_value_class_capability_and_error_kind() -> None:
    text = guides.render_driver()
    for protocol in (drivers.CameraDriver, drivers.DoorDriver):
        for name, member in vars(protocol).items():
            if callable(member) and not name.startswith("_"):
                assert f"### `{name}`" in text, name
    for cls in [c for c in vars(models).values() if inspect.isclass(c) and attrs.has(c)]:
        assert f"### `{cls.__name__}`" in text
        for field in attrs.fields(cls):
            assert f"| `{field.name}` |" in text, (cls.__name__, field.name)
    for capability in models.Capability:
        assert f"| `{capability.value}` |" in text
    for kind in (FindingKind.UNREACHABLE, FindingKind.AUTH_FAILED, FindingKind.PROTOCOL_ERROR):
        assert f"| `{kind.value}` |" in text
    assert "### `set_clock`" in text and "Declared by `Capability.SET_CLOCK`" in text


def test_simulator_guide_lists_every_fault() -> None:
    text = guides.render_simulator()
    for field in attrs.fields(FaultProfile):
        assert f"| `{field.name}` |" in text
    for hostile in Hostile:
        assert f"`{hostile.value}`" in text
    assert "trigger_event(self" in text and "`set_faults(self" in text


def test_comments_are_read_from_source() -> None:
    assert guides.comments(FaultProfile)["slow"] == "Seconds added before every reply."
    assert "async context manager" in guides.comments(drivers)["SimulatorFactory"]
