"""A local stand-in for RunPod (API, pods, proxy) and for a serving pod; see docs/emulator.md."""

from infra.emulator.faults import Faults, Timing
from infra.emulator.server import Emulator

__all__ = ["Emulator", "Faults", "Timing"]
