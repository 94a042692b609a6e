"""The rehearsal's copy of a stack, fitted to what the local control plane has (pure file edits).

Fitting the control plane itself (controller, nodes, volume) is exercised in test_live_lws.py.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from infra import config
from infra.planner import plan
from infra.targets.kubernetes.rehearsal_cluster import RWX_CLASS, fit_stack_copy, rwx_volume


def copy_of(tmp_path: Path, stack: str) -> tuple[Path, object]:
    spec = config.load_stack(stack)
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    source = config.project_root() / "stacks" / f"Pulumi.{stack}.yaml"
    (stacks / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return stacks / source.name, plan(spec.plan_request(), spec.catalog)


def test_a_two_node_stack_gets_the_shared_class_and_existing_nodes(tmp_path: Path) -> None:
    path, p = copy_of(tmp_path, "k8s-pro-2x8xh100")
    lines = fit_stack_copy(tmp_path, "k8s-pro-2x8xh100", p)  # type: ignore[arg-type]
    cfg = yaml.safe_load(path.read_text())["config"]
    assert cfg["deepseek-v4-infra:storageClass"] == RWX_CLASS
    assert cfg["deepseek-v4-infra:nodePool"] == "existing"
    assert lines == [
        f"storageClass efs-sc -> {RWX_CLASS}, a ReadWriteMany class",
        "nodePool karpenter -> existing: no karpenter controller runs here; kwok's fake GPU nodes serve",
    ]
    # Everything else of the stack is left as the user wrote it.
    assert cfg["deepseek-v4-infra:nodes"] == 2 and cfg["deepseek-v4-infra:accessMode"] == "ReadWriteMany"
    assert fit_stack_copy(tmp_path, "k8s-pro-2x8xh100", p) == []  # type: ignore[arg-type]


def test_a_one_node_stack_gets_the_control_planes_own_class(tmp_path: Path) -> None:
    path, p = copy_of(tmp_path, "k8s-flash-4xh200")
    assert fit_stack_copy(tmp_path, "k8s-flash-4xh200", p) == [  # type: ignore[arg-type]
        "storageClass efs-sc -> standard, the local control plane's class"
    ]
    assert yaml.safe_load(path.read_text())["config"]["deepseek-v4-infra:storageClass"] == "standard"


def test_the_shared_volume_is_file_storage_every_node_may_mount() -> None:
    pv = rwx_volume("rehearsal-nfs-0")["spec"]
    assert pv["accessModes"] == ["ReadWriteMany"] and "nfs" in pv and pv["storageClassName"] == RWX_CLASS
