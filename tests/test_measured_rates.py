"""Measured read rates: the file a stack names is checked before anything is rented; a failed
measurement falls back to the published rate and says so; a measurement beats a published figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.measured_rates import from_probe_output, load_file, planning_rate
from infra.read_rates import MEASURED, PUBLISHED, Rate, runpod_volume, storage


def _record(
    dc: str = "EU-RO-1", tier: str = "STANDARD", when: str = "2026-12-01T10:00:00Z", **extra: object
) -> str:
    record: dict[str, object] = {
        "probe": "v4infra-read-rate",
        "version": 1,
        "data_center": dc,
        "tier": tier,
        "storage": "network-volume",
        "path": "/workspace/hf/hub",
        "fs_type": "fuse",
        "method": "o_direct",
        "measured_at": when,
        "levels": [
            {"readers": 1, "bytes": 1, "seconds": 1, "bytes_per_s": 300_000_000},
            {"readers": 16, "bytes": 1, "seconds": 1, "bytes_per_s": 1_200_000_000},
        ],
        "error": None,
    }
    record.update(extra)
    return json.dumps(record)


def test_the_newest_measurement_for_this_data_center_and_tier_is_used(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    older = _record(when="2026-11-01T00:00:00Z", levels=[{"readers": 1, "bytes_per_s": 100_000_000}])
    lines = [older, _record(), _record(dc="US-TX-3"), _record(tier="HIGH_PERFORMANCE")]
    path.write_text("\n".join(lines) + "\n")
    m = load_file(path, data_center="EU-RO-1", tier="STANDARD")
    assert m.measured_at == "2026-12-01T10:00:00Z"
    assert m.rate.points == ((1, 300e6), (16, 1200e6))
    rate, why = planning_rate(runpod_volume("STANDARD"), m)
    assert rate.basis == MEASURED and why.startswith("read rate measured: 1,200 MB/s")


def test_an_unreadable_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_file(tmp_path / "nope.jsonl", data_center="EU-RO-1", tier="STANDARD")
    text = str(err.value)
    assert text.startswith("measuredRates '") and "cannot be read" in text and "\n" not in text
    assert "valid: a file of v4infra-read-rate lines measured in EU-RO-1 on a STANDARD volume" in text


def test_a_file_that_is_not_probe_output_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    path.write_text(_record() + "\nnot json\n")
    with pytest.raises(ConfigError, match=r"line 2 is not a probe record"):
        load_file(path, data_center="EU-RO-1", tier="STANDARD")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_file(path, data_center="EU-RO-1", tier="STANDARD")


def test_a_measurement_from_another_data_center_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    path.write_text(_record(dc="US-TX-3") + "\n" + _record(dc="CA-MTL-1") + "\n")
    with pytest.raises(ConfigError) as err:
        load_file(path, data_center="EU-RO-1", tier="STANDARD")
    assert "was measured in CA-MTL-1, US-TX-3, not in EU-RO-1" in str(err.value)
    assert "drop measuredRates to plan with the published rate" in str(err.value)


def test_a_measurement_of_another_tier_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    path.write_text(_record(tier="HIGH_PERFORMANCE") + "\n")
    with pytest.raises(ConfigError, match="measured HIGH_PERFORMANCE volumes in EU-RO-1, not STANDARD"):
        load_file(path, data_center="EU-RO-1", tier="STANDARD")


def test_a_failed_measurement_falls_back_to_the_published_rate_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    path.write_text(_record(levels=[], error="OSError: Input/output error") + "\n")
    m = load_file(path, data_center="EU-RO-1", tier="STANDARD")
    assert not m.usable
    rate, why = planning_rate(runpod_volume("STANDARD"), m)
    assert rate.basis == PUBLISHED and rate.at(1) == pytest.approx(237.3e6, rel=1e-3)
    assert why.startswith(
        "the measurement failed (OSError: Input/output error); using the published rate: 237 MB/s"
    )


def test_probe_output_that_is_not_a_record_is_a_failed_measurement_not_a_crash() -> None:
    m = from_probe_output("Traceback (most recent call last):\nKilled", "EU-RO-1", "STANDARD")
    assert not m.usable and "last line: Killed" in str(m.error)
    rate, why = planning_rate(runpod_volume("STANDARD"), m)
    assert rate.basis == PUBLISHED and "the measurement failed" in why


def test_a_storage_without_a_published_figure_says_so() -> None:
    rate, why = planning_rate(storage("container-disk"), None)
    assert not rate.known and rate.at(8) is None
    assert why == "not measured yet; container-disk has no published figure for its read rate"


def test_rates_never_extrapolate_beyond_the_readers_measured() -> None:
    rate = Rate(((1, 100.0), (4, 300.0), (16, 250.0)), MEASURED, "probe", "3 reader counts")
    assert rate.at(1) == 100.0
    assert rate.at(3) == 100.0  # 4 readers were not used, so their rate is not assumed
    assert rate.at(8) == 300.0
    assert rate.at(64) == 300.0  # the best point, not a line through 16
    assert rate.best_readers() == 4


def test_an_unknown_runpod_tier_names_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError,
        match="volumeTier 'FAST' is not a RunPod network-volume tier; valid: STANDARD, HIGH_PERFORMANCE",
    ):
        runpod_volume("FAST")


def test_the_high_performance_tier_is_not_credited_with_its_claimed_speedup() -> None:
    standard, fast = runpod_volume("STANDARD").published, runpod_volume("HIGH_PERFORMANCE").published
    assert fast.at(1) == standard.at(1)
    assert "runpod/docs#429" in fast.source and "no published measurement" in fast.method
