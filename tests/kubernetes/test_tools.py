"""The Kubernetes tool builds (tools/build-kube.sh and its wrapper modules) agree with what the code runs."""

from __future__ import annotations

import re
from pathlib import Path

from infra.targets.kubernetes.local_cluster import KUBERNETES_VERSION, KWOK_VERSION

TOOLS = Path(__file__).resolve().parents[2] / "tools"


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
