"""Running the read-rate probe in a pod never raises: whatever fails becomes a record with its error."""

from __future__ import annotations

import json

import pytest

from infra import probe_session
from infra.measured_rates import from_record


def test_a_runner_that_fails_or_prints_garbage_gives_a_failed_record() -> None:
    def broken(argv: list[str], stdin: bytes, timeout: float) -> tuple[int, str]:
        raise OSError("channel closed")

    def garbage(argv: list[str], stdin: bytes, timeout: float) -> tuple[int, str]:
        assert argv[:2] == ["python3", "-"] and stdin.startswith(b'"""Measure how fast')
        return 127, "bash: python3: command not found"

    for runner, why in (
        (broken, "did not run (OSError: channel closed)"),
        (garbage, "python3: command not found"),
    ):
        records = probe_session.measure(
            runner,
            data_center="EU-RO-1",
            tier="STANDARD",
            repo_dir="/workspace/hf/hub/x",
        )
        assert [r["storage"] for r in records] == ["network-volume", "container-disk"]
        m = from_record(json.loads(json.dumps(records[0])))
        assert not m.usable and why in str(m.error)


def test_the_probe_sizes_its_chunks_from_the_checkpoint_it_finds() -> None:
    from infra import read_rate_probe as probe

    assert probe.auto_per_reader([("/a", 865 * 10**9)], [1, 4, 16]) == 2**30
    small = probe.auto_per_reader([(f"/s{i}", 2**20) for i in range(4)], [1, 4, 16])
    assert small % 4096 == 0 and small * (21 + 4) <= 4 * 2**20
    with pytest.raises(ValueError, match="too few to time reads of"):
        probe.auto_per_reader([("/s", 4096)], [1, 4, 16])
    args = probe_session.volume_args("/v", "EU-RO-1", "STANDARD", "network-volume")
    assert args[args.index("--per-reader") + 1] == "auto" and args[-1] == "/v"


def test_a_large_download_becomes_a_hub_rate_and_a_small_one_does_not() -> None:
    assert probe_session.hub_record("EU-RO-1", "STANDARD", 5 * 10**6, 1.0, 4) is None
    record = probe_session.hub_record("EU-RO-1", "STANDARD", 160 * 10**9, 320.0, 4)
    assert record is not None
    m = from_record(record)
    assert m.usable and m.storage == "hub" and m.rate.at(4) == 500e6
