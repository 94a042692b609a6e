"""`pulumi up`, refresh and destroy of the RunPod Instant Cluster presets on the real engine, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pulumi import automation as auto

from infra.config import project_root
from infra.emulator import Emulator, Faults
from infra.targets.runpod import naming

pytestmark = pytest.mark.engine
StackOpener = Callable[[str], auto.Stack]
StateTexts = Callable[[], dict[str, str]]


def live(emulator: Emulator, key: str) -> list[dict[str, Any]]:
    return list(emulator.inventory()[key])


def cluster_resources(stack: auto.Stack) -> list[dict[str, Any]]:
    resources = (stack.export_stack().deployment or {}).get("resources") or []
    return [r for r in resources if r["urn"].endswith("::runpod-cluster")]


def test_up_of_pro_2x8xh100_rents_one_cluster_of_two_8x_h100_pods_and_destroy_leaves_only_the_cache(
    open_stack: StackOpener, emulator: Emulator, canaries: tuple[str, str], state_texts: StateTexts
) -> None:
    stack = open_stack("pro-2x8xh100")
    result = stack.up()
    outputs = {k: v.value for k, v in result.outputs.items()}
    (cluster,) = live(emulator, "clusters")
    assert cluster["id"] == outputs["cluster_id"]
    assert cluster["name"] == naming.for_stack("pro-2x8xh100").name("cluster", cluster["name"][-6:])
    members = {p["id"]: p for p in live(emulator, "pods") if p["kind"] == "gpu"}
    assert sorted(members) == sorted(outputs["member_pod_ids"]) and len(members) == 2
    assert {(p["gpuTypeId"], p["gpuCount"], p["dataCenterId"]) for p in members.values()} == {
        ("NVIDIA H100 80GB HBM3", 8, "US-TX-3")
    }
    # The leader (rank 0) serves the API and is the one SSH goes to first.
    assert outputs["pod_id"] == outputs["member_pod_ids"][0]
    assert outputs["endpoint"] and outputs["ssh_host"] and outputs["ssh_port"]
    assert outputs["usd_per_hour"] == pytest.approx(2 * 8 * 2.69)
    (volume,) = live(emulator, "volumes")
    assert volume["id"] == outputs["volume_id"] and volume["dataCenterId"] == "US-TX-3"
    # The TTL is kept by a CPU watchdog pod that deletes the cluster; the pre-fill pod is gone.
    (watchdog,) = [p for p in live(emulator, "pods") if p["kind"] == "cpu"]
    assert "-watchdog-" in watchdog["name"]
    for name, text in state_texts().items():
        assert not [c for c in canaries if c in text], f"a canary secret is in the state file {name}"

    stack.preview(expect_no_changes=True)
    stack.destroy()
    inventory = emulator.inventory()
    assert inventory["clusters"] == [] and inventory["pods"] == []
    assert [v["id"] for v in inventory["volumes"]] == [outputs["volume_id"]]


def test_refresh_sees_a_cluster_deleted_behind_pulumis_back_and_up_rents_a_new_one(
    open_stack: StackOpener, emulator: Emulator, engine_env: dict[str, str]
) -> None:
    stack = open_stack("pro-2x8xh100")
    old_id = stack.up().outputs["cluster_id"].value
    key = engine_env["RUNPOD_API_KEY"]
    httpx.delete(
        f"{emulator.url}/v2/clusters/{old_id}", headers={"Authorization": f"Bearer {key}"}
    ).raise_for_status()

    refreshed = stack.refresh()
    assert (refreshed.summary.resource_changes or {}).get(auto.OpType.DELETE) == 1
    assert cluster_resources(stack) == []
    new_id = stack.up().outputs["cluster_id"].value
    assert new_id != old_id
    assert [c["id"] for c in live(emulator, "clusters")] == [new_id]
    stack.destroy()
    assert live(emulator, "clusters") == [] and live(emulator, "pods") == []


def test_validate_pro_2x8xh100_rehearsed_checks_every_node_and_leaves_no_member_pod(tmp_path: Path) -> None:
    """`v4infra validate pro-2x8xh100 --rehearse` as a user runs it: its own emulator and hub."""
    drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "CI")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("RUNPOD_")}
    env.update(
        V4INFRA_ROOT=str(project_root()),
        V4INFRA_STATE_DIR=str(tmp_path / "state"),
        PULUMI_CONFIG_PASSPHRASE="cluster-rehearsal-tests",
        COLUMNS="300",
    )
    done = subprocess.run(
        [sys.executable, "-m", "infra", "validate", "pro-2x8xh100", "--rehearse"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=1500,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert "emulator inventory after teardown: 0 pod(s) live" in output, output

    (report,) = tmp_path.glob("reports/pro-2x8xh100/*/report.json")
    data = json.loads(report.read_text())
    assert data["passed"] and data["rehearsal"] and data["teardown"]["ok"], data
    stages = {s["name"]: s for s in data["stages"]}
    assert [s["name"] for s in data["stages"]] == [
        "canary",
        "up",
        "gpu-preflight",
        "engine-health",
        "api",
        "load",
        "accuracy",
        "benchmark",
    ]
    # The preflight ran on both nodes and the report keeps each node's GPU facts.
    nodes = stages["gpu-preflight"]["details"]["nodes"]
    assert [n["node_rank"] for n in nodes] == [0, 1]
    for node in nodes:
        assert node["passed"] and len(node["gpus"]) == 8
        assert {g["name"] for g in node["gpus"]} == {"NVIDIA H100 80GB HBM3"}


def test_up_whose_members_crash_loop_fails_in_one_line_and_leaves_no_cluster_billed(
    open_stack: StackOpener, emulator: Emulator, canaries: tuple[str, str]
) -> None:
    # Every member's container dies right after it starts; RunPod would restart (and bill) them forever.
    emulator.set_faults(Faults(die_after_seconds=0.5))
    stack = open_stack("pro-2x8xh100")
    with pytest.raises(auto.CommandError) as err:
        stack.up()
    message = str(err.value)
    assert "crash-looping" in message and "cluster" in message
    assert not [c for c in canaries if c in message], "a canary secret is in the engine's output"
    inventory = emulator.inventory()
    assert inventory["clusters"] == [] and inventory["pods"] == []
    assert cluster_resources(stack) == [], "a failed create is not in the state, so nothing may be left"
    # The weight cache was made (and filled) before the cluster; it is kept for the retry.
    assert [v["name"] for v in inventory["volumes"]] == [naming.for_stack("pro-2x8xh100").name("cache", "v1")]
