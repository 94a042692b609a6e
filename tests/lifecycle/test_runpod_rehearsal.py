"""`v4infra validate flash-4xh200 --rehearse`: every progress line says it is a rehearsal, nothing is billed after."""

from __future__ import annotations

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
    events = [m.group("text") for line in output.splitlines() if (m := EVENT.match(line))]
    assert len(events) > 5, output
    assert all(text.startswith("[rehearsal: RunPod emulator] ") for text in events), events
    assert any("emulator inventory after teardown: 0 pod(s) live" in text for text in events), output
