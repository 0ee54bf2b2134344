"""The conformance kit against the ONVIF simulator."""

from watchkeeper.testing import CameraDriverConformance


class TestOnvifConformance(CameraDriverConformance):
    platform = "onvif"
