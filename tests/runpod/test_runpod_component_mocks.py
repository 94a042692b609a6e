"""RunPodDeployment under Pulumi mocks for every RunPod preset, and what stops it before anything exists."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest
from pulumi_mocks import run_program, stack_config, use_mocks

from infra import config
from infra.emulator import Emulator
from infra.errors import ConfigError
from infra.program import run
from infra.targets.runpod.component import check_gpu_types_listed
from infra.targets.runpod.types import RunPodSettings

# Single-node presets; the Instant Cluster presets have their own (test_cluster_component_mocks.py).
RUNPOD_STACKS = [
    s
    for s in config.stack_names()
    if config.load_stack(s).target == "runpod" and config.load_stack(s).nodes == 1
]


def dynamic(mocks, suffix):
    found = [
        r for r in mocks.resources if r.typ == "pulumi-python:dynamic:Resource" and r.name.endswith(suffix)
    ]
    assert len(found) == 1, [r.name for r in mocks.resources]
    return found[0]


@pytest.mark.parametrize("stack", RUNPOD_STACKS)
def test_each_preset_registers_cache_prefill_and_the_planned_pod(stack, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    mocks = use_mocks(stack, stack_config(stack))
    spec, plan, _ = run_program()
    pod = dynamic(mocks, "-pod").inputs
    assert pod["gpu_type_ids"][0] == spec.catalog.gpu(spec.gpu).runpod_id
    assert pod["gpu_count"] == plan.gpu_count
    assert pod["image"] == plan.engine.image
    # RunPod's JSON start command replaces the vLLM image's ENTRYPOINT (`vllm serve`) with bash.
    start = json.loads(pod["args"])
    assert start["entrypoint"] == ["bash", "-c"]
    script = start["cmd"][0]
    assert "vllm serve deepseek-ai/" in script and "--max-model-len" in script
    assert pod["ttl_seconds"] == spec.ttl_minutes * 60
    assert pod["ports"] == ["8000/http", "22/tcp"]
    assert pod["api_base_url"] == "https://api.runpod.io"
    volume = dynamic(mocks, "-weight-cache").inputs
    assert volume["size_gb"] == plan.cost.cache_gb
    assert volume["data_center_ids"] == (list(spec.data_centers) or ["US-TX-3"])
    assert volume["placement_gpu_type_ids"] == pod["gpu_type_ids"]
    assert volume["placement_gpu_count"] == plan.gpu_count
    prefill = dynamic(mocks, "-prefill").inputs
    assert prefill["repo_id"] == plan.model and prefill["image"] == "python:3.11-slim"
    components = [r for r in mocks.resources if r.typ == "deepseek-v4-infra:runpod:Deployment"]
    assert len(components) == 1


def test_no_api_key_stops_before_any_resource(monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    mocks = use_mocks("flash-4xh200", stack_config("flash-4xh200"))
    with pytest.raises(pulumi.RunError, match="no RunPod API key"):
        run()
    assert mocks.resources == []


def test_no_hf_token_stops_before_any_resource(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    mocks = use_mocks("flash-4xh200", stack_config("flash-4xh200"))
    with pytest.raises(pulumi.RunError, match="no Hugging Face token"):
        run()
    assert mocks.resources == []


def test_a_gpu_type_runpod_does_not_list_is_refused_with_what_it_lists(monkeypatch):
    spec = config.load_stack("flash-4xh200")
    gpu = spec.catalog.gpu("H200")
    renamed = dataclasses.replace(gpu, runpod_id="NVIDIA H300")
    catalog = dataclasses.replace(spec.catalog, gpus={**spec.catalog.gpus, "H200": renamed})
    spec = dataclasses.replace(spec, catalog=catalog)
    with Emulator() as emulator:
        monkeypatch.setenv("RUNPOD_API_KEY", emulator.api_key)
        settings = RunPodSettings(emulator.api_key, emulator.url, emulator.proxy_url_template)
        with pytest.raises(
            ConfigError, match=r"RunPod does not list GPU type\(s\) NVIDIA H300; it lists: .*NVIDIA H200"
        ):
            check_gpu_types_listed(spec, settings)
        assert emulator.inventory()["pods"] == [] and emulator.inventory()["volumes"] == []


def test_plain_start_runs_the_stock_image_and_a_watchdog_keeps_the_ttl(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    raw = {**stack_config("flash-4xh200"), "deepseek-v4-infra:startCommand": "plain"}
    mocks = use_mocks("flash-4xh200", raw)
    spec, _, _ = run_program()
    pod = dynamic(mocks, "-pod").inputs
    assert pod["args"].startswith("deepseek-ai/DeepSeek-V4-Flash --served-model-name")
    assert "bash" not in pod["args"] and pod["ports"] == ["8000/http"]
    assert pod["env"]["HF_HUB_OFFLINE"] == "1" and pod["env"]["HF_HOME"] == "/workspace/hf"
    watchdog = dynamic(mocks, "-ttl-watchdog").inputs
    assert watchdog["gpu_count"] == 0 and watchdog["ttl_seconds"] == spec.ttl_minutes * 60
    assert "terminate_until_gone" in watchdog["args"]
