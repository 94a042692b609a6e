"""`v4infra cleanup` finds this project's resources that no Pulumi state owns, and removes them only with --yes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import project_root
from infra.emulator import Emulator
from infra.targets.runpod.client import PodRequest, RunPodClient, RunPodSettings


def v4infra(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=180,
        env=env,
    )


def test_cleanup_lists_then_removes_orphans_of_the_stack_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import os

    with Emulator(api_key="rp-cleanup-canary") as emulator:
        client = RunPodClient(
            RunPodSettings(
                emulator.api_key,
                emulator.graphql_base_url,
                emulator.rest_base_url,
                emulator.proxy_url_template,
            )
        )
        base = {"image": "python:3.11-slim", "gpu_type_id": None, "gpu_count": 0, "ports": "22/tcp"}
        orphan = client.create_cpu_pod(PodRequest(name="v4i-flash-4xh200-pod-abc123", **base))
        other_stack = client.create_cpu_pod(PodRequest(name="v4i-pro-8xh200-pod-def456", **base))
        foreign = client.create_cpu_pod(PodRequest(name="someone-elses-pod", **base))
        volume = client.create_volume("v4i-flash-4xh200-cache-v1", 200, "US-TX-3")
        env = {
            **os.environ,
            **emulator.env(),
            "V4INFRA_STATE_DIR": str(tmp_path / "state"),
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": "x",
        }
        (tmp_path / "backend").mkdir()

        listed = v4infra("cleanup", "flash-4xh200", env=env)
        assert listed.returncode == 0, listed.stderr
        assert orphan.id in listed.stdout and volume.id in listed.stdout and "--yes" in listed.stdout
        assert other_stack.id not in listed.stdout and foreign.id not in listed.stdout
        assert len(emulator.inventory()["pods"]) == 3, "without --yes nothing is removed"

        removed = v4infra("cleanup", "flash-4xh200", "--yes", env=env)
        assert removed.returncode == 0, removed.stderr
        live = {p["id"] for p in emulator.inventory()["pods"]}
        assert live == {other_stack.id, foreign.id}
        assert [v["id"] for v in emulator.inventory()["volumes"]] == [volume.id], "the kept cache stays"
        assert "--purge-cache" in removed.stdout
        purged = v4infra("cleanup", "flash-4xh200", "--yes", "--purge-cache", env=env)
        assert purged.returncode == 0, purged.stderr
        assert emulator.inventory()["volumes"] == []
        assert emulator.api_key not in listed.stdout + listed.stderr + removed.stdout + removed.stderr
