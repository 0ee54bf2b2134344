"""The conformance kit: the pytest suite a vendor plugin runs against its simulator to be certified.

Subclass :class:`CameraDriverConformance` (or :class:`DoorDriverConformance`) in a test module,
set ``platform`` and provide an async ``simulated_device`` fixture yielding a
:class:`SimulatedDevice`. See ``docs/vendor-plugins.md``.
"""

from watchkeeper.testing.conformance import CameraDriverConformance, SimulatedDevice, free_port
from watchkeeper.testing.doors import DoorDriverConformance, SimulatedReader

__all__ = ["CameraDriverConformance", "DoorDriverConformance", "SimulatedDevice", "SimulatedReader", "free_port"]
