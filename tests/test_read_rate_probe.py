"""The volume read-rate probe: disjoint reads, one JSON line, standalone with the standard library only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import read_rate_probe as probe
from infra.measured_rates import from_probe_output

PROBE_PY = Path(probe.__file__)
MIB = 1024 * 1024


def _checkpoint(root: Path, shards: int = 3, size: int = 4 * MIB) -> Path:
    """A Hugging Face cache layout: snapshots/<rev>/*.safetensors symlinked to blobs/."""
    repo = root / "hub" / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for i in range(shards):
        blob = repo / "blobs" / f"blob{i}"
        blob.write_bytes(bytes([i]) * size)
        (snap / f"model-{i:05d}.safetensors").symlink_to(blob)
    (snap / "config.json").write_text("{}")
    return root / "hub"


def _run(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(PROBE_PY), *args], capture_output=True, text=True, timeout=120, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout
    record: dict[str, object] = json.loads(lines[0])
    return record


def test_every_level_reads_bytes_no_earlier_level_read() -> None:
    files = [("/a", 10 * MIB), ("/b", 10 * MIB + 123)]
    levels = probe.plan_levels(files, [1, 2, 4], per_reader=2 * MIB, block=MIB)
    assert [len(level) for level in levels] == [1, 2, 4]
    ranges = [(c.path, c.offset + k) for level in levels for c in level for k in range(0, c.length, MIB)]
    assert len(ranges) == len(set(ranges)), "a byte range was read twice"
    assert all(c.offset % probe.ALIGN == 0 and c.length % probe.ALIGN == 0 for level in levels for c in level)


def test_a_level_the_files_cannot_fill_is_dropped_not_shrunk() -> None:
    levels = probe.plan_levels([("/a", 5 * MIB)], [1, 2, 8], per_reader=2 * MIB, block=MIB)
    assert [len(level) for level in levels] == [1]


def test_checkpoint_files_follow_symlinks_once_and_skip_other_files(tmp_path: Path) -> None:
    hub = _checkpoint(tmp_path)
    files = probe.checkpoint_files([str(hub)], "*.safetensors")
    assert [Path(p).name for p, _ in files] == ["blob0", "blob1", "blob2"]
    assert all(size == 4 * MIB for _, size in files)


@pytest.mark.parametrize("direct", [True, False])
def test_the_probe_prints_one_json_line_with_a_rate_per_reader_count(tmp_path: Path, direct: bool) -> None:
    hub = _checkpoint(tmp_path, shards=4, size=4 * MIB)
    flags = [] if direct else ["--no-direct"]
    record = _run(
        str(hub), "--data-center", "EU-RO-1", "--tier", "STANDARD", "--readers", "1,2",
        "--per-reader", str(2 * MIB), "--block", str(MIB), *flags,
    )  # fmt: skip
    assert record["error"] is None
    assert record["data_center"] == "EU-RO-1" and record["tier"] == "STANDARD"
    levels = record["levels"]
    assert isinstance(levels, list)
    assert [lv["readers"] for lv in levels] == [1, 2]
    assert [lv["bytes"] for lv in levels] == [2 * MIB, 4 * MIB]
    assert all(lv["bytes_per_s"] > 0 for lv in levels)
    if not direct:
        assert record["method"] == "fadvise_dontneed"
    assert record["method"] in ("o_direct", "fadvise_dontneed")
    measurement = from_probe_output(json.dumps(record), "EU-RO-1", "STANDARD")
    assert measurement.usable and [n for n, _ in measurement.rate.points] == [1, 2]


def test_a_failed_measurement_still_prints_json_and_exits_0(tmp_path: Path) -> None:
    record = _run(str(tmp_path / "missing"), "--data-center", "US-TX-3", "--tier", "STANDARD")
    assert record["levels"] == []
    assert "no files matching" in str(record["error"])
    measurement = from_probe_output(json.dumps(record), "US-TX-3", "STANDARD")
    assert not measurement.usable and "no files matching" in str(measurement.error)


def test_too_little_data_for_one_level_is_a_failed_measurement(tmp_path: Path) -> None:
    hub = _checkpoint(tmp_path, shards=1, size=MIB)
    record = _run(
        str(hub),
        "--data-center",
        "X",
        "--tier",
        "STANDARD",
        "--per-reader",
        str(4 * MIB),
        "--block",
        str(MIB),
    )
    assert record["levels"] == [] and "less than one level" in str(record["error"])


def test_scratch_mode_measures_a_disk_without_checkpoint_files_and_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    record = _run(
        "--scratch", str(scratch), "--storage", "container-disk", "--data-center", "EU-RO-1", "--tier", "local",
        "--readers", "1,2", "--per-reader", str(MIB), "--block", str(MIB),
    )  # fmt: skip
    assert record["error"] is None and record["storage"] == "container-disk"
    assert [lv["readers"] for lv in record["levels"]] == [1, 2]  # type: ignore[union-attr]
    assert list(scratch.iterdir()) == [], "probe files were left behind"


def test_it_runs_alone_from_stdin_without_this_package(tmp_path: Path) -> None:
    """As in a pod: `python3 - ARGS < read_rate_probe.py`, isolated from this checkout and its venv."""
    hub = _checkpoint(tmp_path, shards=2, size=2 * MIB)
    out = subprocess.run(
        ["/usr/bin/env", "-i", "python3", "-I", "-", str(hub), "--data-center", "EU-RO-1", "--tier", "STANDARD",
         "--readers", "1", "--per-reader", str(MIB), "--block", str(MIB)],
        stdin=PROBE_PY.open("rb"), capture_output=True, timeout=120, cwd=tmp_path, check=True,
    )  # fmt: skip
    record = json.loads(out.stdout)
    assert record["error"] is None and record["levels"][0]["bytes"] == MIB


def test_bad_arguments_are_reported_in_the_record(tmp_path: Path) -> None:
    record = _run(str(tmp_path), "--data-center", "X", "--tier", "STANDARD", "--block", "1000")
    assert "multiple of 4096" in str(record["error"])
