"""`v4infra validate flash-4xh200 --rehearse`: every progress line says it is a rehearsal, nothing is billed after."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import project_root

pytestmark = pytest.mark.engine
EVENT = re.compile(r"^\s*\d+\.\ds (?P<text>.*)$")


def test_runpod_rehearsal_tags_every_line_and_leaves_no_pod(tmp_path: Path) -> None:
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

    def validate() -> tuple[str, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "infra", "validate", "flash-4xh200", "--rehearse"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=900,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        report = max((tmp_path / "reports" / "flash-4xh200").glob("*/report.json"))
        return output, json.loads(report.read_text())

    output, first = validate()
    events = [m.group("text") for line in output.splitlines() if (m := EVENT.match(line))]
    assert len(events) > 5, output
    assert all(text.startswith("[rehearsal: RunPod emulator] ") for text in events), events
    assert any("emulator inventory after teardown: 0 pod(s) live" in text for text in events), output
    # The pre-fill's CPU pod measured the (paced) volume, and the plan validate shows reads at that rate.
    assert any(text.startswith("[rehearsal: RunPod emulator] measured volume: ") for text in events), output
    start = first["plan"]["start"]
    assert (
        start["rate_note"].startswith("read rate measured: ")
        and "read-rate probe, US-TX-3" in start["rate_note"]
    )
    rows = {r["phase"]: r for r in first["start"]["rows"]}
    assert rows["weights read"]["basis"] == "measured" and rows["weights read"]["measured_s"] > 0
    assert rows["graph capture"]["measured_s"] is not None
    assert first["start"]["compile_cache"].startswith("miss"), "a fresh volume's first start compiles"
    assert first["cost"]["source"].startswith(
        "RunPod billing API (/v2/billing/network-volumes, /v2/billing/pods"
    )
    # The second start of the same configuration finds its kernels in the cache on the kept volume.
    _, second = validate()
    assert second["start"]["compile_cache"].startswith("hit: nothing was compiled"), second["start"]
    assert second["start"]["predicted"] == "planned start, warm compile cache"
