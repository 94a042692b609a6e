"""`v4infra render STACK --out DIR`: a deterministic, kustomize-buildable, secret-free GitOps directory.

Golden files live in tests/kubernetes/golden/<stack>/; regenerate them with `UPDATE_GOLDEN=1 pytest ...`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import config
from infra.cli_render import add_render_parser, cmd_render
from infra.errors import ConfigError
from infra.planner import plan
from infra.targets.kubernetes.cluster_check import kubectl_binary
from infra.targets.kubernetes.gitops import write_gitops_dir
from infra.targets.kubernetes.manifests import render_manifests

PRESETS = ("k8s-flash-4xh200", "k8s-pro-8xh200", "k8s-pro-2x8xh100")
GOLDEN = Path(__file__).parent / "golden"
WEIGHTS_PY = Path(__file__).resolve().parents[2] / "infra" / "weights.py"
PROBE_PY = WEIGHTS_PY.with_name("read_rate_probe.py")
ARGO = {"k8s-pro-8xh200": ("https://git.example.com/platform/gitops.git", "clusters/prod/deepseek-v4-pro")}
CANARY_HF = "hf_CANARYcanary0123456789abcdef"
CANARY_API = "sk-canary-api-key-0123456789"


def render(stack: str, out: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    add_render_parser(parser.add_subparsers(dest="command"))
    return cmd_render(parser.parse_args(["render", stack, "--out", str(out), *extra]))


def argo_flags(stack: str) -> list[str]:
    if stack not in ARGO:
        return []
    repo, path = ARGO[stack]
    return ["--argo-repo", repo, "--argo-path", path]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def kustomize(directory: Path) -> list[dict]:
    kubectl = kubectl_binary()  # the one `make tools` built, else kubectl on PATH
    built = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(built.stdout) if d]


def goldenable(name: str, text: str) -> str:
    """The weights ConfigMap carries infra/weights.py and infra/read_rate_probe.py verbatim; the golden
    file holds a stand-in for each."""
    if name != "20-configmap-weights.yaml":
        return text
    data = yaml.safe_load(text)["data"]
    assert data["weights.py"] == WEIGHTS_PY.read_text(), (
        "the ConfigMap does not carry infra/weights.py verbatim"
    )
    assert data["read_rate_probe.py"] == PROBE_PY.read_text(), "nor infra/read_rate_probe.py"
    head, sep, _ = text.partition("\ndata:\n")
    assert sep, "the weights ConfigMap lost its scripts"
    return (
        head
        + sep
        + "  read_rate_probe.py: <infra/read_rate_probe.py, verbatim>\n  weights.py: <infra/weights.py, verbatim>\n"
    )


@pytest.mark.parametrize("stack", PRESETS)
def test_the_rendered_directory_matches_the_golden_files(stack: str, tmp_path: Path) -> None:
    assert render(stack, tmp_path, *argo_flags(stack)) == 0
    actual = {name: goldenable(name, data.decode()) for name, data in snapshot(tmp_path).items()}
    golden = GOLDEN / stack
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden, ignore_errors=True)
        golden.mkdir(parents=True)
        for name, text in actual.items():
            (golden / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(golden.iterdir())}
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], (
            f"{name} differs from {golden / name}; UPDATE_GOLDEN=1 to accept"
        )


@pytest.mark.parametrize("stack", PRESETS)
def test_kustomize_builds_the_directory_with_every_object(stack: str, tmp_path: Path) -> None:
    render(stack, tmp_path, *argo_flags(stack))
    spec = config.load_stack(stack)
    manifests = render_manifests(spec, plan(spec.plan_request(), spec.catalog))
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [m.filename for m in manifests]
    built = kustomize(tmp_path)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted(
        (m.kind, m.name) for m in manifests
    )
    for doc in built:
        namespaced = doc["kind"] not in ("Namespace", "NodePool")
        assert doc["metadata"].get("namespace") == (spec.namespace if namespaced else None), doc["kind"]
    # The Argo CD Application sits beside the kustomization, not inside it (it lives in argocd's namespace).
    assert "argocd-application.yaml" not in kustomization["resources"]


@pytest.mark.parametrize("stack", PRESETS)
def test_rendering_twice_changes_nothing(stack: str, tmp_path: Path) -> None:
    render(stack, tmp_path, *argo_flags(stack))
    first = snapshot(tmp_path)
    spec = config.load_stack(stack)
    again = write_gitops_dir(
        spec, plan(spec.plan_request(), spec.catalog), tmp_path, *ARGO.get(stack, (None, None))
    )
    assert again.written == () and again.removed == ()
    assert snapshot(tmp_path) == first


def test_a_rerender_removes_only_its_own_stale_files(tmp_path: Path) -> None:
    render("k8s-flash-4xh200", tmp_path)
    assert (tmp_path / "74-job-reaper.yaml").is_file()
    (tmp_path / "README.md").write_text("# our cluster notes\n")
    (tmp_path / "values.yaml").write_text("team: platform\n")
    # The same stack made permanent: its reaper files are stale now.
    stack_file = config.stacks_dir() / "Pulumi.k8s-flash-4xh200.yaml"
    raw = yaml.safe_load(stack_file.read_text())["config"]
    raw["deepseek-v4-infra:permanent"] = True
    spec = config.parse(raw, stack="k8s-flash-4xh200", source="test")
    result = write_gitops_dir(spec, plan(spec.plan_request(), spec.catalog), tmp_path)
    assert set(result.removed) == {
        "70-serviceaccount-reaper.yaml",
        "71-role-reaper.yaml",
        "72-rolebinding-reaper.yaml",
        "73-configmap-reaper.yaml",
        "74-job-reaper.yaml",
    }
    assert (tmp_path / "README.md").read_text() == "# our cluster notes\n"
    assert (tmp_path / "values.yaml").is_file()
    assert "74-job-reaper.yaml" not in (tmp_path / "kustomization.yaml").read_text()


def test_the_argo_application_points_at_the_rendered_path(tmp_path: Path) -> None:
    repo, path = ARGO["k8s-pro-8xh200"]
    render("k8s-pro-8xh200", tmp_path, "--argo-repo", repo, "--argo-path", path, "--argo-revision", "main")
    app = yaml.safe_load((tmp_path / "argocd-application.yaml").read_text())
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"] == {"repoURL": repo, "path": path, "targetRevision": "main"}
    assert app["spec"]["destination"] == {
        "server": "https://kubernetes.default.svc",
        "namespace": "deepseek-v4-pro",
    }
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    with pytest.raises(ConfigError, match="needs both --argo-repo and --argo-path"):
        render("k8s-pro-8xh200", tmp_path / "other", "--argo-repo", repo)


@pytest.mark.parametrize("stack", PRESETS)
def test_no_rendered_file_holds_a_secret_value_from_config_or_environment(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY_HF)
    raw = yaml.safe_load((config.stacks_dir() / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw["deepseek-v4-infra:hfToken"] = CANARY_HF
    raw["deepseek-v4-infra:runpodApiKey"] = CANARY_API
    # As the engine hands them over: values in clear, their keys listed as secret.
    secret_keys = frozenset({"deepseek-v4-infra:hfToken", "deepseek-v4-infra:runpodApiKey"})
    spec = config.parse(raw, stack=stack, source="test", secret_keys=secret_keys)
    write_gitops_dir(spec, plan(spec.plan_request(), spec.catalog), tmp_path / "cfg")
    render(stack, tmp_path / "env", *argo_flags(stack))
    for path in [*(tmp_path / "cfg").iterdir(), *(tmp_path / "env").iterdir()]:
        text = path.read_text()
        assert CANARY_HF not in text and CANARY_API not in text, path.name
    doc = (tmp_path / "env" / "secrets.md").read_text()
    assert "create secret generic hf-token --from-literal=HF_TOKEN=" in doc
    assert "create secret generic vllm-api-key" in doc


def test_a_no_fit_stack_writes_nothing(tmp_path: Path) -> None:
    raw = yaml.safe_load((config.stacks_dir() / "Pulumi.k8s-pro-8xh200.yaml").read_text())["config"]
    raw["deepseek-v4-infra:gpu"] = "H100"
    spec = config.parse(raw, stack="k8s-pro-8xh100", source="stacks/Pulumi.k8s-pro-8xh100.yaml")
    with pytest.raises(Exception, match="does not fit 8x H100-SXM"):
        write_gitops_dir(spec, plan(spec.plan_request(), spec.catalog), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_renamed_and_reordered_template_files_keep_the_kustomization_in_dependency_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.targets.kubernetes import manifests
    from infra.targets.kubernetes.gitops import render_files

    # Every file renamed and the render order reversed: the reaper's Job renders first, the namespace last.
    shuffled = tuple(
        (f"{i:02d}-object-{i}.yaml", template, when)
        for i, (_, template, when) in enumerate(reversed(manifests.SLOTS))
    )
    monkeypatch.setattr(manifests, "SLOTS", shuffled)
    spec = config.load_stack("k8s-flash-4xh200")
    p = plan(spec.plan_request(), spec.catalog)
    files = render_files(spec, p)
    listed = yaml.safe_load(files["kustomization.yaml"])["resources"]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in (yaml.safe_load(files[f]) for f in listed)]
    at = {ref: i for i, ref in enumerate(kinds)}
    assert kinds[0] == ("Namespace", spec.namespace)
    assert at[("PersistentVolumeClaim", "model-cache")] < at[("Job", "model-download")]
    assert at[("ConfigMap", "weights-script")] < at[("Job", "model-download")]
    assert at[("Job", "model-download")] < at[("Deployment", "vllm")]
    for ref in (("ServiceAccount", "reaper"), ("Role", "reaper"), ("RoleBinding", "reaper")):
        assert at[ref] < at[("Job", "reaper")]
    assert sorted(listed) == sorted(m.filename for m in render_manifests(spec, p))
