"""`v4infra plan` and `v4infra stacks` as a user runs them: a real subprocess, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import project_root


def v4infra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=120,
    )


def test_plan_json_has_the_documented_fields():
    out = v4infra("plan", "flash-4xh200", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in (
        "model",
        "gpu",
        "gpu_count",
        "nodes",
        "verdict",
        "reasons",
        "memory",
        "engine",
        "max_model_len",
        "cost",
        "alternatives",
    ):
        assert key in data
    assert data["model"] == "deepseek-ai/DeepSeek-V4-Flash"
    assert data["verdict"] == "fits"
    assert set(data["engine"]) >= {"image", "args", "env"}
    assert isinstance(data["engine"]["args"], list)
    assert data["cost"]["usd_per_hour"] == pytest.approx(14.36)


def test_no_fit_exits_non_zero_with_the_arithmetic_on_stderr():
    out = v4infra("plan", "--model", "pro", "--gpu", "H100", "--count", "8")
    assert out.returncode == 3
    assert "865 GB" in out.stderr and "8x H200" in out.stderr
    assert "Traceback" not in out.stderr


def test_tight_exits_zero_and_says_what_was_reduced():
    out = v4infra("plan", "flash-2xh100")
    assert out.returncode == 0
    assert "tight" in out.stdout and "eager" in out.stdout


def test_user_mistakes_are_one_line_without_traceback():
    out = v4infra("plan", "--model", "flash", "--gpu", "H300", "--count", "4")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown GPU 'H300'" in out.stderr and "Traceback" not in out.stderr
    out = v4infra("plan", "no-such-stack")
    assert out.returncode == 2 and "Stacks:" in out.stderr


def test_stacks_lists_every_preset_with_verdict_and_price():
    out = v4infra("stacks", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["stack"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {
        "flash-2xh100",
        "flash-4xh100",
        "flash-4xh200",
        "pro-8xh200",
        "k8s-flash-4xh200",
        "k8s-pro-8xh200",
        "pro-2x8xh100",
        "pro-2x8xh200",
        "k8s-pro-2x8xh100",
        "pro-8xb200",
        "flash-4xb200",
    }
    assert rows["flash-2xh100"]["verdict"] == "tight"
    # Two nodes of 8x H100 on a RunPod Instant Cluster: the path for Pro on H100s.
    assert rows["pro-2x8xh100"]["verdict"] == "fits" and rows["pro-2x8xh100"]["nodes"] == 2
    assert rows["pro-2x8xh100"]["cost"]["usd_per_hour"] == pytest.approx(43.04)
    assert rows["pro-8xh200"]["cost"]["usd_per_hour"] == pytest.approx(28.72)
    # Blackwell presets: 8x B200 at $6.79/GPU-h (RunPod, 2026-10-07); verdicts follow the evidence rule.
    assert rows["pro-8xb200"]["verdict"] == "fits" and rows["pro-8xb200"]["verified"]
    assert rows["pro-8xb200"]["cost"]["usd_per_hour"] == pytest.approx(54.32)
    assert rows["flash-4xb200"]["verdict"] == "fits" and not rows["flash-4xb200"]["verified"]
    assert rows["flash-4xb200"]["verified_detail"].startswith(
        "verified by its publisher, no published numbers"
    )
    table = v4infra("stacks")
    assert "k8s-pro-8xh200" in table.stdout and "28.72" in table.stdout
    assert "publisher" in table.stdout  # flash-4xb200's label


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--rehearse", "--engine-fault", "garbld"],
            "error: --engine-fault: unknown fault 'garbld'; valid: arch, keyerror, oom, tp16, pp, hub401, garbled, slow",
        ),
        (["--engine-fault", "garbled"], "error: --engine-fault 'garbled' needs --rehearse"),
    ],
)
def test_an_engine_fault_the_stand_in_does_not_know_is_one_line_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {**os.environ, "V4INFRA_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run(
        [sys.executable, "-m", "infra", "validate", "flash-4xh200", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), out.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "reports").exists(), "nothing was started"
