"""The stand-in engine's serving (infra/emulator/vllm_api.py): how it paces tokens, and the `slow` fault."""

from __future__ import annotations

from infra.emulator import vllm_api
from infra.emulator.vllm_api import ServedModel


def test_slow_paces_several_times_slower_and_streams_stay_within_the_cap() -> None:
    healthy = ServedModel(["m"], "m", 1024, None, itl_seconds=0.004, version="0.25.0")
    slow = ServedModel(["m"], "m", 1024, None, itl_seconds=0.004, version="0.25.0", fault="slow")

    assert slow.step_seconds == vllm_api.SLOW_FACTOR * healthy.step_seconds >= 3 * healthy.step_seconds
    assert vllm_api.stream_time_scale(600) == vllm_api.STREAM_TIME_SCALE_CAP
    assert vllm_api.stream_time_scale(0.5) == 1.0
