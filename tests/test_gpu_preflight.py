"""GPU preflight: the parsers on real H200 output, and the whole stage over a real OpenSSH server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from paths import H200_FIXTURES
from sshd import SshServer

from infra.ssh import SshSession, SshTarget, pin_host_key
from infra.validate.gpu_preflight import (
    GpuExpectation,
    GpuInfo,
    GpuPreflight,
    GpuQueryError,
    check_disk,
    check_gpus,
    parse_df,
    parse_gpu_query,
)

H200 = GpuInfo(index=0, name="NVIDIA H200", memory_mib=143771, driver_version="580.159.04", compute_cap="9.0")
ONE_H200 = GpuExpectation(product_name="NVIDIA H200", count=1, memory_mib=143771, min_driver="575")


def test_parses_the_noheader_query_captured_on_an_h200() -> None:
    assert parse_gpu_query((H200_FIXTURES / "query-gpu-noheader.csv").read_text()) == [H200]


def test_parses_the_query_with_header_and_units() -> None:
    assert parse_gpu_query((H200_FIXTURES / "query-gpu.csv").read_text()) == [H200]


def test_plain_nvidia_smi_output_is_rejected_not_misread() -> None:
    with pytest.raises(GpuQueryError):
        parse_gpu_query((H200_FIXTURES / "nvidia-smi.txt").read_text())


def test_the_captured_h200_meets_an_h200_plan() -> None:
    gpus = parse_gpu_query((H200_FIXTURES / "query-gpu-noheader.csv").read_text())
    assert check_gpus(gpus, ONE_H200) == []


def test_too_few_gpus_is_one_sentence_with_both_counts() -> None:
    findings = check_gpus([H200], GpuExpectation("NVIDIA H200", count=8, memory_mib=143771))
    assert [str(f) for f in findings] == ["Found 1 GPU (1x NVIDIA H200); the plan needs 8x NVIDIA H200."]


def test_an_h100_where_an_h200_was_planned_names_both_with_memory() -> None:
    text = "".join(f"{i}, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 9.0\n" for i in range(8))
    findings = check_gpus(parse_gpu_query(text), GpuExpectation("NVIDIA H200", count=8, memory_mib=143771))
    assert [str(f) for f in findings] == [
        "GPUs 0, 1, 2, 3, 4, 5, 6, 7: NVIDIA H100 80GB HBM3 with 81559 MiB, expected NVIDIA H200 with 143771 MiB."
    ]


def test_memory_far_from_the_plan_is_reported_but_small_drift_is_not() -> None:
    shrunk = GpuInfo(1, "NVIDIA H200", 100000, "580.159.04", "9.0")
    drifted = GpuInfo(2, "NVIDIA H200", 143000, "580.159.04", "9.0")
    findings = check_gpus([H200, shrunk, drifted], GpuExpectation("NVIDIA H200", count=3, memory_mib=143771))
    assert [str(f) for f in findings] == ["GPU 1: 100000 MiB of memory, expected 143771 MiB (within 2%)."]


def test_an_old_or_missing_driver_is_reported() -> None:
    unknown = GpuInfo(1, "NVIDIA H200", 143771, None, None)
    findings = check_gpus([H200, unknown], GpuExpectation("NVIDIA H200", 2, 143771, min_driver="580.200"))
    assert [str(f) for f in findings] == [
        "GPU 1: nvidia-smi reports no driver version.",
        "Driver 580.159.04 is older than the required 580.200.",
    ]


def test_parses_real_df_output_from_this_machine(tmp_path: Path) -> None:
    out = subprocess.run(["df", "-PB1", str(tmp_path)], capture_output=True, text=True, check=True).stdout
    space = parse_df(out)
    assert 0 < space.available_bytes <= space.total_bytes
    assert space.mount_point.startswith("/")


def test_too_little_disk_names_free_and_needed_space() -> None:
    space = parse_df(
        "Filesystem       1-blocks        Used    Available Capacity Mounted on\n"
        "/dev/nvme1n1 536870912000 416870912000 120000000000      78% /workspace\n"
    )
    findings = check_disk(space, 170_000_000_000, "/workspace/hf")
    assert [str(f) for f in findings] == [
        "Only 120.0 GB free on /workspace (holding /workspace/hf); 170.0 GB needed."
    ]
    assert check_disk(space, 100_000_000_000, "/workspace/hf") == []


def _session(server: SshServer, known_hosts: Path) -> SshSession:
    target = SshTarget(server.host, server.port, server.user)
    # Pinned before the first contact, as the product pins what a pod printed: nothing is trusted on first use.
    pin_host_key(known_hosts, target, Path(f"{server.host_key_path}.pub").read_text())
    return SshSession(target, server.client_key, known_hosts)


def test_preflight_passes_for_one_h200_over_ssh(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "hf"
    cache.mkdir()
    (cache / "complete").touch()
    preflight = GpuPreflight(
        ONE_H200,
        cache_path=str(cache),
        required_free_bytes=1,
        cache_check=["test", "-f", str(cache / "complete")],
    )
    with _session(sshd_server, known_hosts) as ssh:
        result = preflight.run(ssh)
    assert result.passed, result.reason
    assert result.name == "gpu-preflight"
    assert result.reason.startswith("1x NVIDIA H200 (143771 MiB each), driver 580.159.04; ")
    assert result.reason.endswith("; weight cache complete")
    assert result.details["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA H200",
            "memory_mib": 143771,
            "driver_version": "580.159.04",
            "compute_cap": "9.0",
        }
    ]
    assert result.details["findings"] == []


def test_preflight_fails_with_every_problem_listed(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    sshd_server.set_gpu_count(4)
    preflight = GpuPreflight(
        GpuExpectation("NVIDIA H200", count=8, memory_mib=143771),
        cache_path=str(tmp_path),
        required_free_bytes=10**18,
        cache_check="echo '3 of 46 shards missing'; exit 1",
    )
    with _session(sshd_server, known_hosts) as ssh:
        result = preflight.run(ssh)
    assert not result.passed
    assert result.reason == "Found 4 GPUs (4x NVIDIA H200); the plan needs 8x NVIDIA H200. (+2 more)"
    findings = result.details["findings"]
    assert isinstance(findings, list)
    assert findings[1].endswith("; 1000000000.0 GB needed.")
    assert findings[2] == f"Weight cache at {tmp_path} is incomplete: 3 of 46 shards missing"
    gpus = result.details["gpus"]
    assert isinstance(gpus, list)
    assert [gpu["index"] for gpu in gpus] == [0, 1, 2, 3]


def test_preflight_reports_a_driver_nvidia_smi_cannot_reach(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    # What nvidia-smi prints, with its exit status 9, on a host whose driver is not loaded.
    (sshd_server.bin_dir / "nvidia-smi").write_text(
        "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        'Make sure that the latest NVIDIA driver is installed and running."\nexit 9\n'
    )
    with _session(sshd_server, known_hosts) as ssh:
        result = GpuPreflight(ONE_H200, cache_path=str(tmp_path)).run(ssh)
    assert not result.passed
    assert result.reason.startswith("nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't")


def test_preflight_reports_a_missing_cache_path(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-volume"
    with _session(sshd_server, known_hosts) as ssh:
        result = GpuPreflight(ONE_H200, cache_path=str(missing)).run(ssh)
    assert not result.passed
    assert result.reason.startswith(f"Cannot measure free disk at {missing}: ")
    assert "No such file or directory" in result.reason
