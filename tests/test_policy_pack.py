"""The CrossGuard policy pack in policy/: its checks on the inputs the engine sends, then on the real engine."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from paths import REPO_ROOT
from pulumi import automation as auto

from infra.config import load_stack
from infra.planner import plan
from infra.targets.kubernetes.manifests import render_manifests
from infra.workspace import copy_project

POLICY_DIR = REPO_ROOT / "policy"
FLASH = "deepseek-ai/DeepSeek-V4-Flash"


def _load(name: str) -> ModuleType:
    """A module of the pack by path: the pack is a plugin directory, not a package."""
    spec = importlib.util.spec_from_file_location(name, POLICY_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checks = _load("policy_checks")


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine marks a secret in a property struct."""
    return {checks.SIG_KEY: checks.SECRET_SIG, "value": value}


def gpu_pod(**over: Any) -> dict[str, Any]:
    props = {
        "name": "v4i-test-pod-abc123",
        "image": "vllm/vllm-openai:v0.25.0",
        "gpu_type_ids": ["NVIDIA H200"],
        "gpu_count": 4,
        "args": json.dumps(
            {"entrypoint": ["bash", "-c"], "cmd": [f"exec vllm serve '{FLASH}' --data-parallel-size 4"]}
        ),
        "ttl_seconds": 7200,
    }
    return {**props, **over}


# --- time-to-live ---------------------------------------------------------------------------------


def test_a_gpu_pod_without_ttl_is_refused_unless_marked_permanent() -> None:
    (message,) = checks.pod_ttl_violations(checks.DYNAMIC, gpu_pod(ttl_seconds=None))
    assert "no time-to-live" in message and "deepseek-v4-infra:ttlMinutes" in message
    assert checks.pod_ttl_violations(checks.DYNAMIC, gpu_pod(ttl_seconds=None, permanent=True)) == []
    assert checks.pod_ttl_violations(checks.DYNAMIC, gpu_pod()) == []


def test_the_cpu_prefill_pod_is_not_a_gpu_pod() -> None:
    prefill = {"name": "v4i-test-prefill", "image": "python:3.11-slim", "args": "bash -c ..."}
    assert checks.pod_ttl_violations(checks.DYNAMIC, prefill) == []
    assert checks.engine_image_violations(checks.DYNAMIC, prefill) == []


def _k8s_resources(stack: str, **changes: Any) -> list[tuple[str, dict[str, Any]]]:
    """The stack's rendered manifests as the engine's (type token, inputs) pairs."""
    spec = load_stack(stack)
    if changes:
        from dataclasses import replace

        spec = replace(spec, **changes)
    out = []
    for m in render_manifests(spec, plan(spec.plan_request(), spec.catalog)):
        version = m.obj["apiVersion"] if "/" in m.obj["apiVersion"] else f"core/{m.obj['apiVersion']}"
        out.append((f"kubernetes:{version}:{m.kind}", m.obj))
    return out


def test_an_ephemeral_kubernetes_stack_passes_and_loses_its_ttl_without_the_reaper() -> None:
    resources = _k8s_resources("k8s-flash-4xh200")
    assert checks.kubernetes_ttl_violations(resources) == []
    assert [m for t, p in resources for m in checks.engine_image_violations(t, p)] == []
    without_reaper = [(t, p) for t, p in resources if t != checks.JOB or "reaper" not in str(p)]
    (message,) = checks.kubernetes_ttl_violations(without_reaper)
    assert "GPU Deployment" in message and "no reaper Job in namespace 'deepseek-v4-flash'" in message


def test_an_ephemeral_two_node_leaderworkerset_loses_its_ttl_without_the_reaper() -> None:
    resources = _k8s_resources("k8s-pro-2x8xh100", ttl_minutes=120)
    assert any(t == checks.LEADER_WORKER_SET for t, _ in resources)
    assert checks.kubernetes_ttl_violations(resources) == []
    assert [m for t, p in resources for m in checks.engine_image_violations(t, p)] == []
    without_reaper = [(t, p) for t, p in resources if t != checks.JOB or "reaper" not in str(p)]
    found = checks.kubernetes_ttl_violations(without_reaper)
    assert any(m.startswith("GPU LeaderWorkerSet 'vllm-group' has no time-to-live") for m in found), found


def test_a_karpenter_node_pool_without_reaper_or_expiry_is_refused() -> None:
    resources = _k8s_resources("k8s-pro-8xh200", ttl_minutes=120)
    assert checks.kubernetes_ttl_violations(resources) == []
    without_reaper = [(t, p) for t, p in resources if t != checks.JOB or "reaper" not in str(p)]
    found = checks.kubernetes_ttl_violations(without_reaper)
    assert any(m.startswith("Karpenter NodePool 'deepseek-v4-pro-gpu' has no time-to-live") for m in found)


def test_the_permanent_kubernetes_stack_marks_its_gpu_objects_permanent() -> None:
    """Contract with the templates: a permanent stack annotates its NodePool and GPU Deployment."""
    resources = _k8s_resources("k8s-pro-8xh200")
    assert checks.kubernetes_ttl_violations(resources) == []


# --- engine image -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "start", "expected"),
    [
        (
            "vllm/vllm-openai:v0.7.0",
            FLASH,
            "ships vllm 0.7.0, but deepseek-ai/DeepSeek-V4-Flash needs vllm >= 0.20.0",
        ),
        ("vllm/vllm-openai:v0.20.0", f"{FLASH}-0731", "DeepSeek-V4-Flash-0731 needs vllm >= 0.25.0"),
        ("vllm/vllm-openai:nightly", FLASH, "names no vllm version"),
        ("vllm/vllm-openai@sha256:" + "0" * 64, FLASH, "names no vllm version"),
        ("ghcr.io/someone/vllm:v0.25.0", FLASH, "is not a catalog engine image"),
        ("vllm/vllm-openai:v0.25.0", "some-org/unknown-model", "cannot tell which catalog checkpoint"),
    ],
)
def test_an_engine_image_below_the_checkpoints_minimum_is_refused(
    image: str, start: str, expected: str
) -> None:
    pod = gpu_pod(
        image=image, args=json.dumps({"entrypoint": ["bash", "-c"], "cmd": [f"vllm serve '{start}'"]})
    )
    (message,) = checks.engine_image_violations(checks.DYNAMIC, pod)
    assert expected in message


def test_images_that_meet_the_minimum_pass() -> None:
    for image in ("vllm/vllm-openai:v0.20.0", "docker.io/vllm/vllm-openai:v0.25.0"):
        assert checks.engine_image_violations(checks.DYNAMIC, gpu_pod(image=image)) == []
    # Plain arguments (no JSON start command) are read as they are.
    sglang = gpu_pod(image="lmsysorg/sglang:v0.5.12", args=f"--model-path {FLASH}-0731")
    assert checks.engine_image_violations(checks.DYNAMIC, sglang) == []
    # A declared checkpoint (a custom model's base architecture) beats the start command.
    declared = gpu_pod(image="vllm/vllm-openai:v0.20.0", base_architecture="flash-0731")
    assert "needs vllm >= 0.25.0" in checks.engine_image_violations(checks.DYNAMIC, declared)[0]


# --- secrets ------------------------------------------------------------------------------------------


def test_credentials_passed_as_plain_values_are_refused() -> None:
    raw = {
        "api_key": "rk-plain",
        "hf_token": secret("hf-secret"),
        "env": {"PUBLIC_KEY": "ssh-ed25519 AAAA", "VLLM_API_KEY": "plain-key"},
        "name": "pod",
    }
    found = checks.plain_secret_violations(checks.DYNAMIC, raw)
    assert len(found) == 2
    assert "'api_key'" in found[0] and "'env.VLLM_API_KEY'" in found[1]
    # A secret env map, an unknown value (known, and checked again, at `up`) and no value all pass.
    ok = {"api_key": secret("rk"), "env": secret({"VLLM_API_KEY": "k"}), "private_key": checks.UNKNOWN}
    assert checks.plain_secret_violations(checks.DYNAMIC, {**ok, "hf_token": None}) == []


def test_kubernetes_credentials_must_come_from_secrets() -> None:
    container = {
        "name": "vllm",
        "env": [{"name": "HF_TOKEN", "value": "hf-plain"}, {"name": "X", "value": "1"}],
    }
    deployment = {"spec": {"template": {"spec": {"containers": [container]}}}}
    (message,) = checks.plain_secret_violations(checks.DEPLOYMENT, deployment)
    assert "spec.template.spec.containers.0.env.0.value" in message
    container["env"] = [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]
    assert checks.plain_secret_violations(checks.DEPLOYMENT, deployment) == []
    assert checks.plain_secret_violations(checks.K8S_SECRET, {"stringData": {"token": "plain"}})
    assert checks.plain_secret_violations(checks.K8S_SECRET, {"stringData": secret({"token": "s"})}) == []


# --- the real engine ------------------------------------------------------------------------------------

ENV = {
    "PULUMI_CONFIG_PASSPHRASE": "test",
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "RUNPOD_API_KEY": "rk-dummy-policy",
    "HF_TOKEN": "hf-dummy-policy",
}


def _stack(work: Path, name: str, tmp_path: Path) -> auto.Stack:
    if shutil.which("pulumi") is None:
        pytest.fail("no pulumi CLI on PATH: run `make tools` (make test does) or `. tools/pulumi-env.sh`")
    (tmp_path / "backend").mkdir(exist_ok=True)
    env = {**ENV, "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}"}
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work), env_vars=env, pulumi_home=os.environ.get("PULUMI_HOME")
    )
    return auto.create_or_select_stack(stack_name=name, work_dir=str(work), opts=opts)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project, so stack files the engine rewrites stay out of the repo."""
    return copy_project(REPO_ROOT, tmp_path / "project")


def _passes(stack: auto.Stack) -> auto.PreviewResult:
    try:
        return stack.preview(policy_packs=[str(POLICY_DIR)])
    except auto.CommandError as err:
        refusals = [
            line.strip() for line in str(err).splitlines() if "[mandatory]" in line or "GPU pod" in line
        ]
        pytest.fail("the policy pack refused the preview:\n" + "\n".join(refusals or [str(err)[-2000:]]))


def _refusal(stack: auto.Stack) -> str:
    with pytest.raises(auto.CommandError) as err:
        stack.preview(policy_packs=[str(POLICY_DIR)])
    return str(err.value)


@pytest.mark.engine
def test_the_default_stack_passes_the_policy_pack(project: Path, tmp_path: Path) -> None:
    result = _passes(_stack(project, "flash-4xh200", tmp_path))
    assert result.change_summary.get(auto.OpType.CREATE, 0) >= 6
    assert "Loading policy packs" in result.stdout
    assert "mandatory" not in result.stdout


@pytest.mark.engine
def test_a_permanent_stack_passes_without_a_ttl(project: Path, tmp_path: Path) -> None:
    """Contract with the program: the pod of a permanent stack carries the input `permanent: true`."""
    base = (project / "stacks" / "Pulumi.flash-4xh200.yaml").read_text()
    (project / "stacks" / "Pulumi.flash-forever.yaml").write_text(
        base + "  deepseek-v4-infra:permanent: true\n"
    )
    result = _passes(_stack(project, "flash-forever", tmp_path))
    assert "mandatory" not in result.stdout


@pytest.mark.engine
def test_an_unversioned_image_the_planner_accepts_is_refused_by_the_policy(
    project: Path, tmp_path: Path
) -> None:
    base = (project / "stacks" / "Pulumi.flash-4xh200.yaml").read_text()
    (project / "stacks" / "Pulumi.flash-nightly.yaml").write_text(
        # The planner refuses a floating tag unless the stack opts in; the policy pack refuses it even then.
        base
        + "  deepseek-v4-infra:image: vllm/vllm-openai:nightly\n  deepseek-v4-infra:allowFloatingImage: true\n"
    )
    message = _refusal(_stack(project, "flash-nightly", tmp_path))
    assert "[mandatory]  engine-image-version" in message
    assert "image 'vllm/vllm-openai:nightly' names no vllm version" in message


PROBE = """\
import pulumi
from infra.targets.runpod.props import PodInputs
from infra.targets.runpod.resources import Pod
from infra.targets.runpod.types import RunPodSettings

# The real GPU pod resource with what the planner and the program would never produce.
Pod("probe-pod", PodInputs(
    connection=RunPodSettings("rk-plain-probe"),
    name="v4i-probe-pod",
    image="vllm/vllm-openai:v0.7.0",
    gpu_type_ids=["NVIDIA H200"],
    gpu_count=4,
    data_center_ids=[],
    args="deepseek-ai/DeepSeek-V4-Flash --data-parallel-size 4",
    ports=[],
    container_disk_gb=50,
    ttl_seconds=None,
    env={"VLLM_API_KEY": pulumi.Output.secret("k"), "HF_TOKEN": "hf-plain-probe"},
))
"""


@pytest.mark.engine
def test_a_pod_without_ttl_with_plain_credentials_and_an_old_image_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "probe"
    work.mkdir()
    (work / "Pulumi.yaml").write_text(
        "name: policy-probe\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"
    )
    (work / "__main__.py").write_text(textwrap.dedent(PROBE))
    (work / ".venv").symlink_to(REPO_ROOT / ".venv")
    message = _refusal(_stack(work, "probe", tmp_path))
    assert "[mandatory]  gpu-pod-time-to-live" in message
    assert "GPU pod 'v4i-probe-pod' has no time-to-live" in message
    assert "[mandatory]  secrets-stay-secret" in message
    assert "input 'api_key' holds a credential as a plain value" in message
    assert "input 'env.HF_TOKEN' holds a credential as a plain value" in message
    assert "'env.VLLM_API_KEY'" not in message
    assert "ships vllm 0.7.0, but deepseek-ai/DeepSeek-V4-Flash needs vllm >= 0.20.0" in message
    for plain in ("rk-plain-probe", "hf-plain-probe"):
        assert plain not in message
