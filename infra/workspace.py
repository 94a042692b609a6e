"""Where the Pulumi engine runs for `v4infra`: project directory, state backend, secrets passphrase.

Defaults keep everything local (a file backend and a generated passphrase under the state
directory); `PULUMI_BACKEND_URL` and `PULUMI_CONFIG_PASSPHRASE[_FILE]` override them as they do for
the `pulumi` CLI. A rehearsal works on a copy of the project so the engine's writes to stack files
(the encryption salt) never touch the checkout.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from infra.config import project_root
from infra.engine_process import EngineCommand
from infra.errors import ConfigError
from infra.state_root import state_root  # re-exported: the state directory's one definition


@dataclass(frozen=True)
class Workspace:
    project_dir: Path
    env: dict[str, str]
    records: Path
    """Where a locking `pulumi` run records who holds the lock (`infra.engine_process`)."""

    def record_path(self, name: str) -> Path:
        return self.records / name / "engine.json"

    def existing_stack(self, name: str) -> auto.Stack:
        """The stack if it exists in the backend (never creates one)."""
        return self._select(name, create=False)

    def stack(self, name: str) -> auto.Stack:
        return self._select(name, create=True)

    def _select(self, name: str, *, create: bool) -> auto.Stack:
        if shutil.which("pulumi", path=self.env.get("PATH")) is None:
            raise ConfigError(
                "no `pulumi` CLI on PATH: run `make tools` and `. tools/pulumi-env.sh`, or install Pulumi"
            )
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_home=self.env.get("PULUMI_HOME"),
            pulumi_command=EngineCommand(self.record_path(name)),
        )
        if create:
            return auto.create_or_select_stack(stack_name=name, work_dir=str(self.project_dir), opts=opts)
        return auto.select_stack(stack_name=name, work_dir=str(self.project_dir), opts=opts)


def open_workspace(extra_env: Mapping[str, str], *, rehearsal_dir: Path | None = None) -> Workspace:
    root = project_root()
    state = state_root()
    project = root
    if rehearsal_dir is not None:
        project = copy_project(root, rehearsal_dir / "project")
    # The engine and the providers it starts see the caller's Pulumi, RunPod, Hugging Face and kubeconfig settings.
    passed = ("PULUMI_", "PATH", "HOME", "V4INFRA_", "RUNPOD_", "HF_", "KUBECONFIG")
    env = {k: v for k, v in os.environ.items() if k.startswith(passed)}
    backend = (rehearsal_dir / "backend") if rehearsal_dir is not None else state / "backend"
    if rehearsal_dir is not None or "PULUMI_BACKEND_URL" not in env:
        backend.mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = f"file://{backend}"
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(_passphrase_file(state))
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    env.update(extra_env)
    return Workspace(project, env, rehearsal_dir if rehearsal_dir is not None else state)


def _passphrase_file(state: Path) -> Path:
    """A per-machine passphrase for the local secrets provider, created once, readable by its owner only."""
    path = state / "passphrase"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path


def copy_project(root: Path, dest: Path) -> Path:
    """A working copy of the Pulumi project (program, stack files, the venv linked) at `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(root / name, dest / name)
    shutil.copytree(root / "stacks", dest / "stacks")
    venv = root / ".venv"
    if venv.exists():
        (dest / ".venv").symlink_to(venv)
    return dest


def export_state(stack: auto.Stack) -> dict[str, Any]:
    """The stack's checkpoint as `pulumi stack export` prints it, secrets left encrypted.

    Ids and URNs are plaintext in it, so what the stack owns is known without the passphrase
    (the Automation API's own `export_stack` always decrypts, and fails on a wrong passphrase).
    """
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace)
    env = {**({"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home else {}), **workspace.env_vars}
    result = workspace.pulumi_command.run(["stack", "export", "--stack", stack.name], workspace.work_dir, env)
    data = json.loads(result.stdout)
    return dict(data.get("deployment") or {})
