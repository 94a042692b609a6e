"""User mistakes on the lifecycle commands: one line on stderr, an exit code, no traceback, nothing rented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import project_root
from infra.emulator import Emulator
from infra.errors import AuthError, exit_code
from infra.workspace import copy_project

pytestmark = pytest.mark.engine


def test_up_without_an_api_key_is_one_line_and_rents_nothing(tmp_path: Path) -> None:
    project = copy_project(project_root(), tmp_path / "project")
    with Emulator() as emulator:
        env = {k: v for k, v in os.environ.items() if k not in ("RUNPOD_API_KEY", "HF_TOKEN")}
        env.update({k: v for k, v in emulator.env().items() if k != "RUNPOD_API_KEY"})
        env.update(
            V4INFRA_ROOT=str(project),
            V4INFRA_STATE_DIR=str(tmp_path / "state"),
            PULUMI_BACKEND_URL=f"file://{tmp_path / 'backend'}",
            PULUMI_CONFIG_PASSPHRASE="x",
        )
        (tmp_path / "backend").mkdir()
        out = subprocess.run(
            [sys.executable, "-m", "infra", "up", "flash-4xh200"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        # AuthError's row of the exit-code table (8), not the generic 1.
        assert out.returncode == exit_code(AuthError("")) == 8, out.stdout + out.stderr
        assert "Traceback" not in out.stdout + out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "no RunPod API key" in errors[0] and "RUNPOD_API_KEY" in errors[0]
        assert emulator.inventory()["pods"] == [] and emulator.inventory()["volumes"] == []
