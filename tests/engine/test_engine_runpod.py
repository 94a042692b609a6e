"""`pulumi up`, refresh and destroy of RunPod stacks on the real engine, against the emulator."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pulumi import automation as auto

from infra.catalog import load_catalog
from infra.emulator import Emulator, Faults
from infra.emulator.hub import FakeHub
from infra.lifecycle import Lifecycle
from infra.targets.runpod import naming

pytestmark = pytest.mark.engine
StackOpener = Callable[[str], auto.Stack]
StateTexts = Callable[[], dict[str, str]]
IMAGE_KEY = "deepseek-v4-infra:image"


def live_pods(emulator: Emulator, kind: str | None = None) -> list[dict[str, Any]]:
    """Pods the account still holds (billed or billable), optionally only GPU or CPU ones."""
    return [p for p in emulator.inventory()["pods"] if kind is None or p["kind"] == kind]


def pod_resources(stack: auto.Stack) -> list[dict[str, Any]]:
    """The GPU pod resources in the stack's state (the pre-fill's CPU pod is never one)."""
    resources = (stack.export_stack().deployment or {}).get("resources") or []
    return [r for r in resources if r["urn"].endswith("::runpod-pod")]


def exported_state(stack: str, env: dict[str, str]) -> str:
    """`pulumi stack export` as a user runs it (the Automation API's export always shows secrets)."""
    done = subprocess.run(
        ["pulumi", "stack", "export", "--stack", stack, "--cwd", env["V4INFRA_ROOT"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_up_of_flash_2xh100_rents_the_planned_pod_keeps_secrets_out_of_state_and_is_stable(
    open_stack: StackOpener,
    emulator: Emulator,
    canaries: tuple[str, str],
    state_texts: StateTexts,
    engine_env: dict[str, str],
) -> None:
    stack = open_stack("flash-2xh100")
    result = stack.up()
    outputs = {k: v.value for k, v in result.outputs.items()}
    for key in ("pod_id", "pod_name", "endpoint", "volume_id", "ssh_host", "ssh_port"):
        assert outputs.get(key), f"output {key} missing: {sorted(outputs)}"
    assert result.outputs["vllm_api_key"].secret and result.outputs["ssh_private_key"].secret

    (gpu_pod,) = live_pods(emulator)
    assert (gpu_pod["id"], gpu_pod["kind"]) == (outputs["pod_id"], "gpu")
    assert (gpu_pod["gpuTypeId"], gpu_pod["gpuCount"]) == ("NVIDIA H100 80GB HBM3", 2)
    (volume,) = emulator.inventory()["volumes"]
    assert volume["id"] == outputs["volume_id"] == gpu_pod["networkVolumeId"]
    # The pre-fill ran on a CPU pod that is gone again.
    assert [p["kind"] for p in emulator.inventory()["history"]] == ["cpu"]

    secrets = [*canaries, str(outputs["vllm_api_key"])]
    key_body = [line for line in str(outputs["ssh_private_key"]).splitlines() if "PRIVATE KEY" not in line]
    assert key_body, "the SSH private key output is empty"
    exported = exported_state("flash-2xh100", engine_env)
    assert '"ciphertext"' in exported
    files = state_texts()
    # The grep reads the real state: the pod's (non-secret) name is there in plain text.
    assert any(str(outputs["pod_name"]) in text for text in files.values()), sorted(files)
    for value in [*secrets, *key_body]:
        assert value not in exported, "a secret is in the exported state as plain text"
        leaks = [name for name, text in files.items() if value in text]
        assert not leaks, f"a secret is in plain text in the backend: {leaks}"

    # Nothing changed: the plan is empty and a second `up` leaves the same pod billed, nothing more.
    stack.preview(expect_no_changes=True)
    again = stack.up()
    assert set(again.summary.resource_changes or {}) == {auto.OpType.SAME}, again.summary.resource_changes
    assert [p["id"] for p in live_pods(emulator)] == [outputs["pod_id"]]
    assert len(emulator.inventory()["history"]) == 1  # only the first pre-fill's CPU pod


def test_up_of_pro_8xh200_rents_eight_h200s(open_stack: StackOpener, emulator: Emulator) -> None:
    outputs = {k: v.value for k, v in open_stack("pro-8xh200").up().outputs.items()}
    assert outputs["endpoint"] and outputs["ssh_host"] and outputs["ssh_port"]
    (gpu_pod,) = live_pods(emulator)
    assert gpu_pod["id"] == outputs["pod_id"]
    assert (gpu_pod["gpuTypeId"], gpu_pod["gpuCount"], gpu_pod["dataCenterId"]) == (
        "NVIDIA H200",
        8,
        "US-TX-3",
    )
    (volume,) = emulator.inventory()["volumes"]
    assert volume["id"] == outputs["volume_id"]
    assert not live_pods(emulator, "cpu")


def test_changing_the_image_replaces_the_pod_and_the_old_one_is_gone(
    open_stack: StackOpener, emulator: Emulator
) -> None:
    stack = open_stack("flash-2xh100")
    old_id = stack.up().outputs["pod_id"].value
    stack.set_config(IMAGE_KEY, auto.ConfigValue("vllm/vllm-openai:v0.20.0"))
    preview = stack.preview()
    assert preview.change_summary.get(auto.OpType.REPLACE) == 1, preview.change_summary
    result = stack.up()
    new_id = result.outputs["pod_id"].value
    assert new_id != old_id
    (pod,) = live_pods(emulator)
    assert pod["id"] == new_id
    assert old_id in [p["id"] for p in emulator.inventory()["history"]]


def test_refresh_sees_a_pod_terminated_behind_pulumis_back_and_up_recreates_it(
    open_stack: StackOpener, emulator: Emulator
) -> None:
    stack = open_stack("flash-2xh100")
    old_id = stack.up().outputs["pod_id"].value
    httpx.post(f"{emulator.url}/_emulator/pods/{old_id}/terminate").raise_for_status()

    refreshed = stack.refresh()
    assert (refreshed.summary.resource_changes or {}).get(auto.OpType.DELETE) == 1, (
        refreshed.summary.resource_changes
    )
    assert pod_resources(stack) == []
    new_id = stack.up().outputs["pod_id"].value
    assert new_id != old_id
    assert [p["id"] for p in live_pods(emulator)] == [new_id]
    assert len(pod_resources(stack)) == 1


def test_up_with_no_capacity_anywhere_fails_with_what_was_tried_and_bills_nothing(
    open_stack: StackOpener, emulator: Emulator, canaries: tuple[str, str]
) -> None:
    gpus = [load_catalog().gpu(g).runpod_id for g in ("H100-SXM", "H100-NVL")]  # flash-4xh100's options
    emulator.set_faults(Faults(capacity_gpu_types=gpus))
    stack = open_stack("flash-4xh100")
    with pytest.raises(auto.CommandError) as err:
        stack.up()
    message = str(err.value)
    assert "no capacity for 4x NVIDIA H100 80GB HBM3 in US-TX-3" in message
    assert "also tried 4x NVIDIA H100 NVL" in message
    assert not [c for c in canaries if c in message], "a canary secret is in the engine's output"
    inventory = emulator.inventory()
    assert inventory["pods"] == []
    assert not [p for p in inventory["history"] if p["kind"] == "gpu"]
    # The weight cache was made (and filled) before the GPU pod; it is kept for the retry.
    assert [v["name"] for v in inventory["volumes"]] == [naming.for_stack("flash-4xh100").name("cache", "v1")]


def test_destroy_keeps_only_the_cache_and_purge_removes_it(
    emulator: Emulator, engine_env: dict[str, str]
) -> None:
    with Lifecycle("flash-2xh100") as life:
        outputs = life.up()
        assert [p["id"] for p in live_pods(emulator)] == [outputs["pod_id"]]
        assert life.down() == []
        inventory = emulator.inventory()
        assert inventory["pods"] == []
        assert [v["id"] for v in inventory["volumes"]] == [outputs["volume_id"]]
        assert life.down(purge_cache=True) == []
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == []


def test_validate_flash_2xh100_end_to_end_then_again_from_the_warm_cache(
    emulator: Emulator,
    hub: FakeHub,
    engine_env: dict[str, str],
    canaries: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = "deepseek-ai/DeepSeek-V4-Flash"
    with Lifecycle("flash-2xh100") as life:
        first, json_path, md_path = life.validate()
    first_shown = capsys.readouterr().out
    assert json_path.is_file() and md_path.is_file()
    assert first.teardown is not None and first.teardown.ok
    assert live_pods(emulator) == []
    served = hub.bytes_served(repo)
    assert served > 0 and "downloaded into the cache volume" in first_shown

    with Lifecycle("flash-2xh100") as life:
        second, json2, md2 = life.validate()
    shown = capsys.readouterr().out
    assert live_pods(emulator) == []
    assert hub.bytes_served(repo) == served
    assert "weights: the cache volume already holds a verified copy; nothing downloaded" in shown
    assert "teardown confirmed: no pod of this stack is left at RunPod" in shown
    for path in (json_path, md_path, json2, md2):
        assert not [c for c in canaries if c in Path(path).read_text()], f"a canary secret is in {path}"
    assert not [c for c in canaries if c in first_shown + shown], "a canary secret was printed"
    for report in (first, second):
        assert report.passed, [(s.name, s.reason) for s in report.stages if not s.passed]
        assert [s.name for s in report.stages] == [
            "canary",
            "up",
            "gpu-preflight",
            "engine-health",
            "api",
            "load",
            "accuracy",
            "benchmark",
        ]
