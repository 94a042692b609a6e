"""Fixtures for lifecycle tests: a RunPod emulator, a file backend and a copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from canary_record import seed_passing_canary
from lifecycle_env import CANARY_RUNPOD_KEY, PASSPHRASE, Setup

from infra.config import project_root
from infra.emulator import Emulator
from infra.workspace import copy_project


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    if shutil.which("pulumi") is None:
        pytest.fail("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`", pytrace=False)
    project = copy_project(project_root(), tmp_path / "project")
    (tmp_path / "backend").mkdir()
    with Emulator(api_key=CANARY_RUNPOD_KEY) as emulator:
        drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "CI")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(
            emulator.env(),
            V4INFRA_ROOT=str(project),
            V4INFRA_STATE_DIR=str(tmp_path / "state"),
            PULUMI_BACKEND_URL=f"file://{tmp_path / 'backend'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        )
        seed_passing_canary(tmp_path / "state", CANARY_RUNPOD_KEY)
        yield Setup(env, project, emulator)


@pytest.fixture
def one_line() -> Callable[[subprocess.CompletedProcess[str]], str]:
    """The single `error:` line of a failed command (and no traceback)."""

    def check(out: subprocess.CompletedProcess[str]) -> str:
        assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, out.stdout + out.stderr
        return errors[0]

    return check
