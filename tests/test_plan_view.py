"""What `v4infra plan` shows: evidence, both API tiers, the declared load, and one command per node."""

from __future__ import annotations

import subprocess
import sys

from infra.config import PROJECT, parse, project_root
from infra.planner import plan


def v4infra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=120,
    )


def test_plan_shows_the_evidence_and_both_api_tiers():
    out = v4infra("plan", "pro-8xh200")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.replace("│", " ").split())  # rich wraps long rows inside the panel
    assert "verified: vLLM recipe, Hopper override" in text and "concurrency 16" in text
    assert "failed: vLLM at 800K context" in text and "recipes#381" in text
    assert "$3.96/1M output at peak" in text and "$1.98 off-peak" in text
    assert "06:00-10:00 UTC on weekdays" in text
    assert "output tok/s at concurrency 8" in text


def test_multi_node_plan_prints_a_leader_and_a_worker_command():
    out = v4infra(
        "plan", "--model", "pro", "--gpu", "H100", "--count", "8", "--nodes", "2", "--target", "kubernetes"
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.replace("│", " ").split())
    assert "tp-dp-ep (TP=8 DP=2 +EP)" in text and "fits (unverified)" in text
    assert "leader (node 0)" in text and "worker (node 1)" in text
    assert "--headless" in text and "--data-parallel-start-rank 1" in text
    # The kubernetes target deploys two nodes (a LeaderWorkerSet), so the plan is not "planned only".
    assert "planned only" not in text


def test_a_known_but_unplanned_checkpoint_says_why():
    out = v4infra("plan", "--model", "deepseek-ai/DeepSeek-V4.1-Flash", "--gpu", "H200", "--count", "8")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "not planned by this catalog" in out.stderr and "0.30.0" in out.stderr


def test_the_declared_load_keys_reach_the_estimate():
    base = {"model": "pro", "gpu": "H200", "gpuCount": 8}
    default = parse(base, stack="s", source="stacks/Pulumi.s.yaml")
    assert (default.expected_concurrency, default.expected_input_tokens, default.expected_output_tokens) == (
        8,
        8192,
        1024,
    )
    spec = parse(
        {
            **base,
            f"{PROJECT}:expectedConcurrency": "2",
            "expectedInputTokens": 65536,
            "expectedOutputTokens": 400,
        },
        stack="s",
        source="stacks/Pulumi.s.yaml",
    )
    t = plan(spec.plan_request(), spec.catalog).throughput
    assert t is not None and t.output_tokens_per_s == 95  # the published concurrency-2 point
    assert "lengths" not in t.extrapolation  # same lengths as the point: nothing to extrapolate
