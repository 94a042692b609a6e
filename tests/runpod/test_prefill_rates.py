"""Measure before renting: the pre-fill's CPU pod reads the volume's checkpoint files with the read-rate
probe, and the container disk, and the plan then reads at the measured rate.

The emulator paces reads of a mounted volume at its tier's published rate (infra/emulator/volume_pace.py:
STANDARD stands for kohya-ss/musubi-tuner#655's 237 MB/s), so the probe in its pod measures that figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_providers import REPO, conn, keys, prefill_props, volume_props  # noqa: F401 (fixtures)

from infra.emulator import Emulator
from infra.emulator.catalog import VOLUME_READ_BYTES_PER_S
from infra.emulator.hub import FakeHub
from infra.measured_rates import from_record
from infra.planner import PlanRequest, plan
from infra.rehearsal import REHEARSAL_SHARD_BYTES
from infra.targets.runpod import providers

HF = "hf_CANARYtokenNEVERshown"


@pytest.fixture
def big_hub() -> Iterator[FakeHub]:
    # 16 MiB of shards, as a rehearsal's: every reader level takes milliseconds, not microseconds.
    with FakeHub(token=HF) as h:
        h.add_fake_checkpoint(REPO, shards=4, shard_bytes=REHEARSAL_SHARD_BYTES)
        yield h


def _fill(conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str], tier: str) -> dict[str, Any]:  # noqa: F811
    volume = providers.NetworkVolumeProvider().create({**volume_props(conn), "volume_type": tier})
    props = {**prefill_props(conn, volume.id, hub, keys), "hf_token": HF, "volume_tier": tier}
    return dict(providers.WeightPrefillProvider().create(props).outs)


def test_the_prefill_measures_the_volume_at_its_tiers_rate_and_the_plan_reads_at_it(
    emulator: Emulator,
    conn: dict[str, Any],  # noqa: F811
    big_hub: FakeHub,
    keys: tuple[str, str],  # noqa: F811
) -> None:
    outs = _fill(conn, big_hub, keys, "STANDARD")
    records = [json.loads(line) for line in outs["read_rates"]]
    by_storage = {r["storage"]: r for r in records}
    assert set(by_storage) == {"network-volume", "container-disk"}, "a 4 MiB download records no hub rate"
    volume = from_record(by_storage["network-volume"])
    assert volume.usable, volume.error
    assert (volume.data_center, volume.tier) == ("US-TX-3", "STANDARD")
    assert [n for n, _ in volume.rate.points] == [1, 4, 16]
    best = max(bps for _, bps in volume.rate.points)
    assert best == pytest.approx(VOLUME_READ_BYTES_PER_S["STANDARD"], rel=0.25)
    assert from_record(by_storage["container-disk"]).usable, (
        "the container disk is measured with scratch files"
    )

    p = plan(PlanRequest("flash", "H200", 4, volume_tier="STANDARD", measurements=tuple(outs["read_rates"])))
    assert p.start is not None
    assert (
        p.start.rate_note.startswith("read rate measured: ")
        and "read-rate probe, US-TX-3 STANDARD" in p.start.rate_note
    )
    read = p.start.first.phase("weights read")
    assert read is not None and read.basis == "measured"
    assert emulator.inventory()["pods"] == [], "the pre-fill pod is gone"


def test_a_checkpoint_too_small_to_time_is_a_failed_record_and_the_fill_still_succeeds(
    emulator: Emulator,
    conn: dict[str, Any],  # noqa: F811
    keys: tuple[str, str],  # noqa: F811
) -> None:
    with FakeHub(token=HF) as tiny:
        tiny.add_fake_checkpoint(REPO, shards=1, shard_bytes=4096)
        outs = _fill(conn, tiny, keys, "STANDARD")
    assert outs["complete"] is True
    volume = next(from_record(json.loads(r)) for r in outs["read_rates"] if '"network-volume"' in r)
    assert not volume.usable and "too few to time" in str(volume.error)
    p = plan(PlanRequest("flash", "H200", 4, volume_tier="STANDARD", measurements=tuple(outs["read_rates"])))
    assert p.start is not None and p.start.rate_note.startswith("the measurement failed (")
    assert "using the published rate: 237 MB/s" in p.start.rate_note


def test_rates_from_another_tier_are_not_used(tmp_path: Path) -> None:
    record = {
        "probe": "v4infra-read-rate", "data_center": "US-TX-3", "tier": "HIGH_PERFORMANCE",
        "storage": "network-volume", "measured_at": "2026-12-01T00:00:00Z",
        "levels": [{"readers": 1, "bytes": 10**9, "seconds": 1.0, "bytes_per_s": 10**9}], "error": None,
    }  # fmt: skip
    p = plan(PlanRequest("flash", "H200", 4, volume_tier="STANDARD", measurements=(json.dumps(record),)))
    assert p.start is not None and p.start.rate_note.startswith("not measured yet")
    assert any("HIGH_PERFORMANCE volume, not STANDARD: not used" in n for n in p.start.notes)
