"""`v4infra validate STACK --rehearse`: the real pulumi-kubernetes provider applies the stack to a local
kube-apiserver with kwok GPU nodes, the checks run against a stand-in engine started locally from the
engine the API server holds (the Deployment, or the LeaderWorkerSet leader the stand-in LWS controller
made), teardown runs, and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kube import tools_missing

from infra.config import project_root
from infra.emulator.local_cluster import KubeTools, ToolsMissing

pytestmark = [pytest.mark.kube, pytest.mark.engine]
# A progress line: elapsed seconds, then the text.
EVENT = re.compile(r"^\s*\d+\.\ds (?P<text>.*)$")


@pytest.fixture
def tools() -> None:
    if shutil.which("pulumi") is None:
        pytest.fail("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`", pytrace=False)
    try:
        KubeTools.find()
    except ToolsMissing as err:
        tools_missing(str(err))


@pytest.mark.timeout(1800)  # a control plane, the provider's awaits and a teardown, on a busy machine
@pytest.mark.parametrize(
    ("stack", "product", "preflight", "setup"),
    [
        (
            "k8s-flash-4xh200",
            "NVIDIA-H200",
            "node kwok-h200-0: 4x NVIDIA-H200",
            "storageClass efs-sc -> standard",
        ),
        (
            # Two nodes: the preflight judges both pods; the stand-in serves as the leader.
            "k8s-pro-2x8xh100",
            "NVIDIA-H100-80GB-HBM3",
            "2 nodes, one pod each: leader vllm-group-0 on kwok-h100-sxm-",
            "runs under a stand-in LeaderWorkerSet controller",
        ),
    ],
)
def test_validate_rehearsal_on_the_local_control_plane_passes_and_leaves_nothing(
    tools: None, tmp_path: Path, stack: str, product: str, preflight: str, setup: str
) -> None:
    drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "KUBECONFIG", "CI")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        V4INFRA_ROOT=str(project_root()),
        V4INFRA_STATE_DIR=str(tmp_path / "state"),
        PULUMI_CONFIG_PASSPHRASE="k8s-rehearsal-tests",
        COLUMNS="300",
    )
    done = subprocess.run(
        [sys.executable, "-m", "infra", "validate", stack, "--rehearse"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=1500,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    events = [m.group("text") for line in output.splitlines() if (m := EVENT.match(line))]
    assert events, output
    untagged = [
        text for text in events if not text.startswith("[rehearsal: local control plane, stand-in engine")
    ]
    assert not untagged, f"rehearsal lines that do not say so: {untagged}"
    assert any("PASS gpu-preflight" in e and product in e and preflight in e for e in events), output
    # Each engine pod's own nvidia-smi too, through the API server's exec (kwok's, the stand-in's GPUs).
    assert any("PASS gpu-preflight" in e and "nvidia-smi: " in e for e in events), output
    assert any(f"the rehearsal's copy of the stack: {setup}" in e for e in events), output
    assert any("PASS engine-health" in e for e in events) and any("PASS load" in e for e in events), output
    assert any("pods of the stack left on the local control plane: none" in e for e in events), output

    (report,) = tmp_path.glob(f"reports/{stack}/*/report.json")
    data = json.loads(report.read_text())
    assert data["passed"] and data["rehearsal"] and data["teardown"]["ok"], data
    # kwok runs no containers: the dataset step and the benchmark client ran locally beside the stand-in.
    assert [s["name"] for s in data["stages"]][-2:] == ["accuracy", "benchmark"], data["stages"]
    bench = next(s for s in data["stages"] if s["name"] == "benchmark")["details"]
    assert bench["runs"] and all(run["measured"]["completed"] for run in bench["runs"]), bench
    # The download Job's probe (run locally, as kwok runs no container) measured the paced claim, and the
    # plan validate shows reads at that rate; the report's phase table is filled from the engine's log.
    assert any("measured volume: " in e and re.search(r"probe, kubernetes \S+ pvc", e) for e in events), (
        output
    )
    assert data["plan"]["start"]["rate_note"].startswith("read rate measured: "), data["plan"]["start"]
    rows = {r["phase"]: r for r in data["start"]["rows"]}
    assert rows["weights read"]["basis"] == "measured" and rows["weights read"]["measured_s"] is not None
    assert "local Kubernetes control plane" in report.with_suffix(".md").read_text()
    # The control plane the rehearsal started is stopped again.
    assert not list((tmp_path / "state").rglob("cluster.json"))
