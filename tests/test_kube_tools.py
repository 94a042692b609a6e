"""The Kubernetes tool builds (tools/build-kube.sh and its wrapper modules) agree with what the code runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kube import start_local_cluster

from infra.kube_tools import KUBERNETES_VERSION, KWOK_VERSION, KubeTools, ToolsMissing

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def script_var(name: str) -> str:
    match = re.search(rf'^{name}="([^"]+)"$', (TOOLS / "build-kube.sh").read_text(), re.M)
    assert match, name
    return match.group(1)


def test_the_build_script_builds_the_versions_the_local_cluster_looks_for() -> None:
    assert script_var("K8S_VERSION") == KUBERNETES_VERSION
    assert script_var("KWOK_VERSION") == KWOK_VERSION
    assert f"require sigs.k8s.io/kwok {KWOK_VERSION}" in (TOOLS / "kwok" / "go.mod").read_text()


def test_every_staging_replace_points_at_the_published_module_of_the_same_release() -> None:
    gomod = (TOOLS / "kubernetes" / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {KUBERNETES_VERSION}" in gomod
    staging = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\t(k8s\.io/[a-z-]+) => (k8s\.io/[a-z-]+) (v\S+)$", gomod, re.M)
    assert len(replaces) >= 30
    for old, new, version in replaces:
        assert (old, version) == (new, staging)
    assert not re.search(r"=> \./staging", gomod)


def test_the_provider_module_uses_the_published_sdk_of_the_pinned_release() -> None:
    version = script_var("PROVIDER_VERSION")
    gomod = (TOOLS / "pulumi-kubernetes" / "go.mod").read_text()
    sdk = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
    assert f"replace {sdk} => {sdk} v{version}" in gomod
    pyproject = (TOOLS.parent / "pyproject.toml").read_text()
    assert f'"pulumi-kubernetes=={version}"' in pyproject, "the Python SDK must match the provider plugin"


def test_without_the_tools_the_message_says_make_tools_and_the_test_fails_instead_of_skipping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V4INFRA_TOOLS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolsMissing, match=r"missing kube-apiserver, .*kwok.*: run `make tools`"):
        KubeTools.find()
    for ci in ("true", ""):
        monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match=r"run `make tools`.*never skipped"):
            next(start_local_cluster(tmp_path / "kube"))
