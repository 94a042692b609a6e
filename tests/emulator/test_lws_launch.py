"""Starting the LeaderWorkerSet stand-in with a control plane (infra/emulator/lws_launch.py): the CRD applied
server-side and Established before the controller starts, and a command that really runs the controller."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import lws_controller as lws


@dataclass
class Running:
    """A process that has not exited (Popen.poll's answer while it runs)."""

    def poll(self) -> int | None:
        return None


@dataclass
class RecordingControlPlane:
    """A control plane whose API server reports the CRD Established on the `established_after`-th look."""

    workdir: Path
    established_after: int = 2
    processes: dict[str, Any] = field(default_factory=dict)
    kubectl_calls: list[tuple[str, ...]] = field(default_factory=list)
    spawned: list[list[str]] = field(default_factory=list)
    saved: int = 0

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        self.kubectl_calls.append(args)
        looks = sum(1 for call in self.kubectl_calls if call[:2] == ("get", "crd"))
        status = "True" if looks >= self.established_after else "False"
        body = {"status": {"conditions": [{"type": "Established", "status": status}]}}
        return subprocess.CompletedProcess(args, 0, stdout=json.dumps(body), stderr="")

    def _spawn(self, name: str, argv: list[str]) -> Any:
        self.spawned.append(argv)
        self.processes[name] = Running()
        return self.processes[name]

    def _save_state(self) -> None:
        self.saved += 1


def test_the_crd_is_established_before_the_controller_starts_and_is_recorded(tmp_path: Path) -> None:
    cluster = RecordingControlPlane(tmp_path)
    crd = tmp_path / "crd.yaml"
    lws.start(cluster, crd)

    apply, *looks = cluster.kubectl_calls
    assert apply[:2] == ("apply", "--server-side") and apply[-1] == str(crd)
    assert looks == [("get", "crd", lws.CRD_NAME, "-o", "json")] * 2
    (argv,) = cluster.spawned
    assert argv[-2:] == ["--kubeconfig", str(cluster.kubeconfig)]
    assert lws.PROCESS_NAME in cluster.processes and cluster.saved == 1

    # The command starts the controller itself: its own usage line, not an import error.
    usage = subprocess.run([*argv[:-2], "--help"], capture_output=True, text=True, timeout=120, check=True)
    assert usage.stdout.startswith("usage: lws-controller")


def test_a_running_controller_is_not_started_twice(tmp_path: Path) -> None:
    cluster = RecordingControlPlane(tmp_path)
    cluster.processes[lws.PROCESS_NAME] = Running()
    lws.start(cluster, tmp_path / "crd.yaml")
    assert cluster.kubectl_calls == [] and cluster.spawned == []


def test_a_crd_never_established_is_a_timeout_naming_it(tmp_path: Path) -> None:
    cluster = RecordingControlPlane(tmp_path, established_after=10**9)
    with pytest.raises(TimeoutError, match="the LeaderWorkerSet CRD was not Established within 0s"):
        lws.start(cluster, tmp_path / "crd.yaml", timeout_s=0.0)
    assert cluster.spawned == []
