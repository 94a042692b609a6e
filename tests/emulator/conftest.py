"""Fixtures for the emulator's tests: emulators whose pods run `RecordingRuntime` containers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import runpod
from recording_runtime import RecordingRuntime

from infra.emulator import Emulator, Timing


@pytest.fixture
def runtimes() -> list[RecordingRuntime]:
    return []


@pytest.fixture
def make_emulator(
    runtimes: list[RecordingRuntime], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def factory(*args: Any) -> RecordingRuntime:
        runtime = RecordingRuntime(*args)
        runtimes.append(runtime)
        return runtime

    def make(
        time_scale: float = 100.0, start_seconds: float = 30.0, timing: Timing | None = None, **kwargs: Any
    ) -> Emulator:
        emulator = Emulator(
            time_scale=time_scale,
            timing=timing or Timing(start_seconds=start_seconds, load_seconds=30.0),
            runtime_factory=factory,
            **kwargs,
        ).start()
        started.append(emulator)
        monkeypatch.setenv("RUNPOD_API_BASE_URL", emulator.graphql_base_url)
        monkeypatch.setattr(runpod, "api_key", emulator.api_key)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator()
