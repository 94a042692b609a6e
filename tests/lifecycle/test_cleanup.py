"""`v4infra cleanup` finds this project's resources that no Pulumi state owns, and removes them only with --yes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import project_root
from infra.emulator import Emulator
from infra.targets.runpod import naming
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
        client = RunPodClient(RunPodSettings.from_env(env=emulator.env()))
        base = {"image": "python:3.11-slim", "gpu_type_id": None, "gpu_count": 0, "ports": ("22/tcp",)}
        backend = f"file://{tmp_path / 'backend'}"
        mine = naming.for_stack("flash-4xh200", backend=backend)
        orphan = client.create_cpu_pod(PodRequest(name=mine.name("pod", "abc123"), **base))
        others = [
            client.create_cpu_pod(PodRequest(name=name, **base))
            for name in (
                naming.for_stack("pro-8xh200", backend=backend).name("pod", "def456"),
                # Equal slugs: the old names of these were this stack's names.
                naming.for_stack("flash_4xh200", backend=backend).name("pod", "abc123"),
                naming.for_stack("flash-4xh200", backend="file:///another/backend").name("pod", "abc123"),
                "v4i-flash-4xh200-pod-abc123",
                "someone-elses-pod",
            )
        ]
        volume = client.create_volume(mine.name("cache", "v1"), 200, "US-TX-3")
        their_cache = client.create_volume(
            naming.for_stack("flash.4xh200", backend=backend).name("cache", "v1"), 200, "US-TX-3"
        )
        env = {
            **os.environ,
            **emulator.env(),
            "V4INFRA_STATE_DIR": str(tmp_path / "state"),
            "PULUMI_BACKEND_URL": backend,
            "PULUMI_CONFIG_PASSPHRASE": "x",
        }
        (tmp_path / "backend").mkdir()

        listed = v4infra("cleanup", "flash-4xh200", env=env)
        assert listed.returncode == 0, listed.stderr
        assert orphan.id in listed.stdout and volume.id in listed.stdout and "--yes" in listed.stdout
        assert not [pod.id for pod in others if pod.id in listed.stdout]
        assert their_cache.id not in listed.stdout
        assert len(emulator.inventory()["pods"]) == 6, "without --yes nothing is removed"

        removed = v4infra("cleanup", "flash-4xh200", "--yes", env=env)
        assert removed.returncode == 0, removed.stderr
        live = {p["id"] for p in emulator.inventory()["pods"]}
        assert live == {pod.id for pod in others}
        assert {v["id"] for v in emulator.inventory()["volumes"]} == {volume.id, their_cache.id}, (
            "caches stay"
        )
        assert "--purge-cache" in removed.stdout
        purged = v4infra("cleanup", "flash-4xh200", "--yes", "--purge-cache", env=env)
        assert purged.returncode == 0, purged.stderr
        assert [v["id"] for v in emulator.inventory()["volumes"]] == [their_cache.id]
        assert emulator.api_key not in listed.stdout + listed.stderr + removed.stdout + removed.stderr
