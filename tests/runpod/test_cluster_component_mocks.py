"""The Instant Cluster presets under Pulumi mocks: one cluster whose members run the plan's roles."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from pulumi_mocks import run_program, stack_config, use_mocks

from infra import config

CLUSTER_STACKS = [
    s
    for s in config.stack_names()
    if config.load_stack(s).target == "runpod" and config.load_stack(s).nodes > 1
]


def dynamic(mocks, suffix):
    found = [
        r for r in mocks.resources if r.typ == "pulumi-python:dynamic:Resource" and r.name.endswith(suffix)
    ]
    assert len(found) == 1, [r.name for r in mocks.resources]
    return found[0]


def test_both_cluster_presets_exist():
    assert sorted(CLUSTER_STACKS) == ["pro-2x8xh100", "pro-2x8xh200"]


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_each_cluster_preset_registers_cache_prefill_one_cluster_and_a_ttl_watchdog(stack, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    mocks = use_mocks(stack, stack_config(stack))
    spec, plan, _ = run_program()
    cluster = dynamic(mocks, "-cluster").inputs
    assert cluster["gpu_type_ids"] == [spec.catalog.gpu(spec.gpu).runpod_id]
    assert (cluster["gpu_count"], cluster["pod_count"]) == (8, 2)
    assert cluster["image"] == plan.engine.image
    assert cluster["ports"] == ["8000/http", "22/tcp"]
    assert cluster["ttl_seconds"] == spec.ttl_minutes * 60
    volume = dynamic(mocks, "-weight-cache").inputs
    # The cache's data center must hold every node's GPUs at once: the cluster is placed there.
    assert (volume["placement_gpu_count"], volume["placement_product"]) == (16, "CLUSTER")
    assert volume["placement_gpu_type_ids"] == cluster["gpu_type_ids"]
    watchdog = dynamic(mocks, "-ttl-watchdog").inputs
    # A CPU pod running watchdog.py (the cluster id it deletes is known only after the cluster exists).
    assert watchdog["gpu_count"] == 0 and watchdog["ttl_seconds"] == spec.ttl_minutes * 60
    assert "V4INFRA_TARGET_CLUSTER" in watchdog["args"]
    assert not [r for r in mocks.resources if r.name.endswith("-pod")], (
        "a cluster stack rents no single GPU pod"
    )


def test_the_one_start_command_runs_each_nodes_role_with_the_leader_address_from_the_environment(
    monkeypatch, tmp_path: Path
):
    """Each member runs the script with its NODE_RANK and PRIMARY_ADDR; a fake `vllm` records its argv."""
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    mocks = use_mocks("pro-2x8xh100", stack_config("pro-2x8xh100"))
    _, plan, _ = run_program()
    start = json.loads(dynamic(mocks, "-cluster").inputs["args"])
    assert start["entrypoint"] == ["bash", "-c"]
    script = start["cmd"][0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in {
        "vllm": 'printf "%s\\n" "$@" > "$ARGV_OUT"; env > "$ENV_OUT"',
        "sshd": "exit 0",
        "ssh-keygen": "exit 0",
        "sleep": "exit 0",
        "tail": "exit 0",
    }.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    for role in plan.roles:
        cache = tmp_path / f"cache-{role.node_rank}"
        cache.mkdir()
        argv_out, env_out = tmp_path / f"argv-{role.node_rank}", tmp_path / f"env-{role.node_rank}"
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path / f"home-{role.node_rank}"),
            "PUBLIC_KEY": "ssh-ed25519 AAAAtest",
            "NODE_RANK": str(role.node_rank),
            "PRIMARY_ADDR": "10.65.0.2",
            "ARGV_OUT": str(argv_out),
            "ENV_OUT": str(env_out),
        }
        # The script's cache path is /workspace on RunPod; here it points at a scratch folder.
        local = script.replace("CACHE=/workspace", f"CACHE={shlex.quote(str(cache))}")
        subprocess.run(["bash", "-c", local], env=env, check=True, timeout=60)
        assert argv_out.read_text().splitlines() == role.argv("10.65.0.2")[1:]
        exported = dict(line.split("=", 1) for line in env_out.read_text().splitlines() if "=" in line)
        assert {k: exported.get(k) for k in role.env} == role.env
        log = (next(cache.glob("logs/*/node-*/engine.log"))).read_text()
        assert f"node {role.node_rank} ({role.role})" in log


def test_a_member_with_a_rank_the_plan_does_not_have_starts_nothing_and_says_why(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    mocks = use_mocks("pro-2x8xh100", stack_config("pro-2x8xh100"))
    run_program()
    script = json.loads(dynamic(mocks, "-cluster").inputs["args"])["cmd"][0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("vllm", "sshd", "ssh-keygen", "sleep", "tail"):
        (bin_dir / tool).write_text(
            "#!/bin/sh\n" + ('touch "$HOME/vllm-ran"\n' if tool == "vllm" else "exit 0\n")
        )
        (bin_dir / tool).chmod(0o755)
    home = tmp_path / "home"
    local = script.replace("CACHE=/workspace", f"CACHE={shlex.quote(str(tmp_path))}")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "PUBLIC_KEY": "k", "NODE_RANK": "5"}
    subprocess.run(["bash", "-c", local], env=env, check=True, timeout=60)
    assert not (home / "vllm-ran").exists()
    log = next(tmp_path.glob("logs/*/node-5/engine.log")).read_text()
    assert "NODE_RANK is '5'; this cluster plan has ranks 0 to 1, so nothing starts here" in log
