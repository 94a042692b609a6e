"""The real Pulumi engine (built by `make tools`) previews the program: refusals and plans as users see them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pulumi import automation as auto

from infra.config import project_root
from infra.workspace import copy_project

pytestmark = pytest.mark.engine
CANARY_KEY = "rp-canary-5f1d2c"
CANARY_TOKEN = "hf_canary_9b7e41"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project, so stack files the engine writes (encryption salt) stay out of the repo."""
    return copy_project(project_root(), tmp_path / "project")


def stack(project: Path, name: str, tmp_path: Path) -> auto.Stack:
    if shutil.which("pulumi") is None:
        pytest.fail("no pulumi CLI on PATH: run `make tools` (make test does) or `. tools/pulumi-env.sh`")
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "RUNPOD_API_KEY": CANARY_KEY,
        "HF_TOKEN": CANARY_TOKEN,
    }
    (tmp_path / "backend").mkdir(exist_ok=True)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(project), env_vars=env, pulumi_home=os.environ.get("PULUMI_HOME")
    )
    return auto.create_or_select_stack(stack_name=name, work_dir=str(project), opts=opts)


def test_preview_of_the_default_stack_plans_the_runpod_resources(project, tmp_path):
    s = stack(project, "flash-4xh200", tmp_path)
    result = s.preview()
    assert result.change_summary.get("create", 0) >= 6  # stack, component, key, secret, volume, pre-fill, pod
    for token in (CANARY_KEY, CANARY_TOKEN):
        assert token not in result.stdout


def test_preview_of_a_stack_that_cannot_fit_fails_with_the_arithmetic(project, tmp_path):
    stack_file = project / "stacks" / "Pulumi.pro-8xh100.yaml"
    stack_file.write_text(
        (project / "stacks" / "Pulumi.pro-8xh200.yaml")
        .read_text()
        .replace("deepseek-v4-infra:gpu: H200", "deepseek-v4-infra:gpu: H100-SXM")
    )
    s = stack(project, "pro-8xh100", tmp_path)
    with pytest.raises(auto.CommandError) as err:
        s.preview()
    message = str(err.value)
    assert "does not fit 8x H100-SXM: weights are 865 GB" in message
    assert "8x H200" in message
    assert "Traceback" not in message
