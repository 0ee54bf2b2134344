"""The door conformance kit against the OSDP reader simulator, over a real libosdp secure channel."""

from watchkeeper.testing import DoorDriverConformance


class TestOsdpConformance(DoorDriverConformance):
    platform = "osdp"
