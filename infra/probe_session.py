"""Measure before renting: run the read-rate probe in the CPU pod that holds the weight volume.

The pre-fill's CPU pod (and on Kubernetes the download Job) reads the volume's real checkpoint files with
`infra/read_rate_probe.py` (`python3 - ARGS < read_rate_probe.py`), then the container disk with probe files
of its own, and turns the hub download it just did into a rate. Each result is one probe record (a JSON
object), kept by `infra.rate_store` and read back by the planner. Nothing here raises: a failed
measurement is a record with its `error`, and the plan then falls back to the published rate.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from infra.measured_rates import PROBE

READERS = (1, 4, 16)
# The container disk is probed with files the probe writes: 5 x 32 MiB, so a 20 GB CPU pod disk has room.
DISK_READERS, DISK_PER_READER = (1, 4), 32 * 1024 * 1024
# A download shorter than this measures latency more than throughput: no hub rate is recorded from it.
MIN_HUB_BYTES = 10**9
PROBE_TIMEOUT_SECONDS = 1800.0
SCRATCH = "/root/v4infra-read-probe"

Runner = Callable[[list[str], bytes, float], tuple[int, str]]
"""Runs argv with stdin in the pod within a timeout: (exit status, output)."""


def probe_source() -> bytes:
    return resources.files("infra").joinpath("read_rate_probe.py").read_bytes()


def volume_args(path: str, data_center: str, tier: str, storage: str) -> list[str]:
    """The probe's arguments for the checkpoint files under `path`; it sizes its chunks from them (up to
    1 GiB per reader per level, smaller for a small checkpoint, refusing one too small to time)."""
    return [
        "--data-center", data_center, "--tier", tier, "--storage", storage,
        "--readers", ",".join(map(str, READERS)), "--per-reader", "auto", path,
    ]  # fmt: skip


def disk_args(data_center: str, tier: str) -> list[str]:
    return [
        "--data-center", data_center, "--tier", tier, "--storage", "container-disk", "--scratch", SCRATCH,
        "--readers", ",".join(map(str, DISK_READERS)), "--per-reader", str(DISK_PER_READER),
    ]  # fmt: skip


def failed(data_center: str, tier: str, storage: str, why: str) -> dict[str, Any]:
    """A record of a measurement that did not happen, so the plan can say why it used the published rate."""
    return {
        "probe": PROBE,
        "data_center": data_center,
        "tier": tier,
        "storage": storage,
        "measured_at": _now(),
        "levels": [],
        "error": why[:300],
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_probe(run: Runner, args: list[str], *, data_center: str, tier: str, storage: str) -> dict[str, Any]:
    """One probe run as a record; whatever goes wrong becomes the record's `error`."""
    try:
        status, output = run(["python3", "-", *args], probe_source(), PROBE_TIMEOUT_SECONDS)
    except Exception as err:  # an SSH or exec failure must never block the run
        return failed(data_center, tier, storage, f"the probe did not run ({type(err).__name__}: {err})")
    line = next((ln for ln in reversed(output.strip().splitlines()) if ln.startswith("{")), "")
    try:
        record = json.loads(line)
    except ValueError:
        last = (output.strip().splitlines() or ["no output"])[-1][:200]
        return failed(data_center, tier, storage, f"the probe printed no record (exit {status}; {last})")
    return record if isinstance(record, dict) else failed(data_center, tier, storage, "not a JSON object")


def hub_record(
    data_center: str, tier: str, downloaded_bytes: int, seconds: float, workers: int
) -> dict[str, Any] | None:
    """The hub's rate from a download that just happened (timed around the filler, so hashing is in it)."""
    if downloaded_bytes < MIN_HUB_BYTES or seconds <= 0:
        return None
    return {
        "probe": PROBE,
        "data_center": data_center,
        "tier": tier,
        "storage": "hub",
        "measured_at": _now(),
        "method": f"download and verify of {downloaded_bytes / 1e9:,.1f} GB by {workers} workers",
        "levels": [
            {
                "readers": workers,
                "bytes": downloaded_bytes,
                "seconds": round(seconds, 3),
                "bytes_per_s": round(downloaded_bytes / seconds),
            }
        ],
        "error": None,
    }


def measure(
    run: Runner, *, data_center: str, tier: str, repo_dir: str, volume_storage: str = "network-volume"
) -> list[dict[str, Any]]:
    """The volume's and the container disk's records, in that order."""
    args = volume_args(repo_dir, data_center, tier, volume_storage)
    return [
        run_probe(run, args, data_center=data_center, tier=tier, storage=volume_storage),
        run_probe(
            run, disk_args(data_center, tier), data_center=data_center, tier=tier, storage="container-disk"
        ),
    ]
