"""Fixtures for the RunPod target's tests: the RunPod emulator on loopback, wired through the env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.emulator import Emulator, Timing

# A key that must never show up in a message, a repr or a log line.
CANARY_KEY = "rpa_CANARY0123456789abcdefSECRET"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running emulator whose pods start within tens of milliseconds; $RUNPOD_* point at it."""
    emu = Emulator(api_key=CANARY_KEY, time_scale=50.0, timing=Timing(start_seconds=1.0, load_seconds=1.0))
    emu.start()
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield emu
    finally:
        emu.stop()
