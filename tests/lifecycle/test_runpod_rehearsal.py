"""`v4infra validate flash-4xh200 --rehearse`: every progress line says it is a rehearsal, nothing is billed after;
the report carries the accuracy stage, the benchmark beside the published cell and the charts, and the
evidence file stays empty. With `--engine-fault garbled` the accuracy stage fails validate (exit 4)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import project_root

pytestmark = pytest.mark.engine
EVENT = re.compile(r"^\s*\d+\.\ds (?P<text>.*)$")


def rehearse(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("pulumi") is None:
        pytest.fail("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`", pytrace=False)
    drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "RUNPOD_API_KEY", "HF_TOKEN", "CI")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        V4INFRA_ROOT=str(project_root()),
        V4INFRA_STATE_DIR=str(tmp_path / "state"),
        PULUMI_CONFIG_PASSPHRASE="rehearsal-tests",
        COLUMNS="300",
    )
    return subprocess.run(
        [sys.executable, "-m", "infra", "validate", "flash-4xh200", "--rehearse", *flags],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )


def report_folder(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "reports" / "flash-4xh200").iterdir()
    return folder


def test_runpod_rehearsal_tags_every_line_and_leaves_no_pod(tmp_path: Path, isolated_evidence: Path) -> None:
    done = rehearse(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    events = [m.group("text") for line in output.splitlines() if (m := EVENT.match(line))]
    assert len(events) > 5, output
    assert all(text.startswith("[rehearsal: RunPod emulator] ") for text in events), events
    assert any("emulator inventory after teardown: 0 pod(s) live" in text for text in events), output
    folder = report_folder(tmp_path)
    data = json.loads((folder / "report.json").read_text())
    assert [s["name"] for s in data["stages"]][-2:] == ["accuracy", "benchmark"], data["stages"]
    assert data["charts"] == ["throughput.png", "ttft.png", "timeline.png"]
    assert all((folder / name).read_bytes()[:4] == b"\x89PNG" for name in data["charts"])
    runs = next(s for s in data["stages"] if s["name"] == "benchmark")["details"]["runs"]
    assert runs[0]["published"]["source"].startswith("SGLang cookbook") and runs[0]["ratio_to_published"]
    assert sorted(p.name for p in folder.glob("bench-vllm-*.json")) == [
        "bench-vllm-declared-8192-1024-c8.json", "bench-vllm-published-8192-1024-c16.json",
    ]  # fmt: skip
    markdown = (folder / "report.md").read_text()
    assert "## Accuracy" in markdown and "sgl-project/sglang#28983" in markdown
    assert "](throughput.png)" in markdown
    assert not (isolated_evidence / "deepseek-v4-infra" / "evidence.jsonl").exists(), (
        "a rehearsal records nothing"
    )
    # The pre-fill's CPU pod measured the (paced) volume, and the plan validate shows reads at that rate.
    assert any(text.startswith("[rehearsal: RunPod emulator] measured volume: ") for text in events), output
    start = data["plan"]["start"]
    assert (
        start["rate_note"].startswith("read rate measured: ")
        and "read-rate probe, US-TX-3" in start["rate_note"]
    )
    rows = {r["phase"]: r for r in data["start"]["rows"]}
    assert rows["weights read"]["basis"] == "measured" and rows["weights read"]["measured_s"] > 0
    assert rows["graph capture"]["measured_s"] is not None
    assert data["start"]["compile_cache"].startswith("miss"), "a fresh volume's first start compiles"
    assert data["cost"]["source"].startswith(
        "RunPod billing API (/v2/billing/network-volumes, /v2/billing/pods"
    )
    # The second start of the same configuration finds its kernels in the cache on the kept volume.
    again = rehearse(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    latest = max((tmp_path / "reports" / "flash-4xh200").iterdir())
    second = json.loads((latest / "report.json").read_text())
    assert second["start"]["compile_cache"].startswith("hit: nothing was compiled"), second["start"]
    assert second["start"]["predicted"] == "planned start, warm compile cache"


def test_a_garbled_engine_fails_the_accuracy_stage_and_leaves_nothing_billed(tmp_path: Path) -> None:
    done = rehearse(tmp_path, "--engine-fault", "garbled")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: accuracy failed: GSM8K "), output
    assert "garbled output" in errors[0]
    assert "emulator inventory after teardown: 0 pod(s) live" in output
    data = json.loads((report_folder(tmp_path) / "report.json").read_text())
    assert data["failed_stage"] == "accuracy" and data["teardown"]["ok"]
    assert "benchmark" not in [s["name"] for s in data["stages"]]
