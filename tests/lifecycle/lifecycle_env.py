"""What lifecycle tests share: a `v4infra` in a subprocess against a RunPod emulator, a file backend and a project copy."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.emulator import Emulator
from infra.targets.runpod.client import PodRequest, RunPodClient, RunPodSettings

CANARY_RUNPOD_KEY = "rpa_LIFECYCLECANARY41f0c2d9e7"
PASSPHRASE = "lifecycle-tests-passphrase"
STACK = "flash-4xh200"


@dataclass
class Setup:
    """Where one test's `v4infra` runs: its environment, project copy and emulator."""

    env: dict[str, str]
    project: Path
    emulator: Emulator

    def v4infra(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infra", *args],
            capture_output=True,
            text=True,
            cwd=self.project,
            timeout=300,
            env=env or self.env,
        )

    def pulumi(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pulumi", "--non-interactive", *args],
            capture_output=True,
            text=True,
            cwd=self.project,
            timeout=300,
            env=env or self.env,
        )

    @property
    def client(self) -> RunPodClient:
        e = self.emulator
        return RunPodClient(RunPodSettings.from_env(env=e.env()))

    def name(self, kind: str, run_id: str) -> str:
        """A resource name of this stack, carrying its identity digest as v4infra names it."""
        from infra.targets.runpod import naming

        return naming.for_stack(STACK, backend=self.env["PULUMI_BACKEND_URL"]).name(kind, run_id)

    def pod(self, name: str) -> str:
        """A CPU pod with this name at the emulator (billed like any pod); returns its id."""
        request = PodRequest(
            name=name, image="python:3.11-slim", gpu_type_id=None, gpu_count=0, ports=("22/tcp",)
        )
        return self.client.create_cpu_pod(request).id

    def live_pods(self) -> set[str]:
        return {p["id"] for p in self.emulator.inventory()["pods"]}
