"""`pulumi up`/`refresh`/`destroy` of the Kubernetes presets: the real engine, the real pulumi-kubernetes
provider (built by `make tools`) and a real kube-apiserver (the local control plane, tests/kube.py).

The provider awaits the download Job and the engine Deployment as it would on a cluster (kwok finishes Job
pods at once and reports the engine's pod Running and Ready).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube import delete_namespace, stack_copy, tools_missing, wait_for
from pulumi import automation as auto

from infra.emulator.local_cluster import STORAGE_CLASS, LocalCluster, gpu_node_name
from infra.workspace import open_workspace

# Several `pulumi up`s against the control plane on a busy 2-core machine.
pytestmark = [pytest.mark.kube, pytest.mark.engine, pytest.mark.timeout(1800)]
PROVIDER_VERSION = "4.25.0"
CANARY_HF = "hf_KUBEENGINEcanary5d0c2a9e71"
PASSPHRASE = "kube-engine-tests-passphrase"


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    tools_missing(f"{what}: run `make tools`, then `. tools/pulumi-env.sh` (`make test` does both)")


def _provider_installed() -> bool:
    done = subprocess.run(["pulumi", "plugin", "ls", "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return False
    plugins = json.loads(done.stdout or "[]")
    return any(p.get("name") == "kubernetes" and p.get("version") == PROVIDER_VERSION for p in plugins)


@pytest.fixture
def kube_env(kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A file backend, a passphrase, the canary HF token and the local cluster's kubeconfig."""
    _require("no `pulumi` CLI on PATH", shutil.which("pulumi") is not None)
    _require(f"no pulumi-kubernetes provider plugin {PROVIDER_VERSION} installed", _provider_installed())
    backend = tmp_path / "backend"
    backend.mkdir()
    for name in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "KUBECONFIG": str(kube_cluster.kubeconfig),
        "HF_TOKEN": CANARY_HF,
        "V4INFRA_STATE_DIR": str(tmp_path / "state"),
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    return dict(os.environ)


@pytest.fixture
def flash(
    kube_env: dict[str, str], kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[auto.Stack, str]]:
    namespace = "engine-flash"
    stack_copy(
        tmp_path, monkeypatch, "k8s-flash-4xh200", {"storageClass": STORAGE_CLASS, "namespace": namespace}
    )
    stack = open_workspace({}).stack("k8s-flash-4xh200")
    try:
        yield stack, namespace
    finally:
        stack.destroy()
        delete_namespace(kube_cluster, namespace)


def exported_state(stack: str, env: dict[str, str]) -> str:
    """`pulumi stack export` as a user runs it (secrets stay ciphertext)."""
    done = subprocess.run(
        ["pulumi", "stack", "export", "--stack", stack, "--cwd", os.environ["V4INFRA_ROOT"]],
        env={**env, **os.environ},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def live(kube_cluster: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, object] | None:
    done = kube_cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def deployment_replicas_in_state(stack: auto.Stack) -> int:
    resources = (stack.export_stack().deployment or {}).get("resources") or []
    (engine,) = [r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment"]
    return int(engine["outputs"]["spec"]["replicas"])


def deployment_ready(kube_cluster: LocalCluster, namespace: str) -> bool:
    deployment = live(kube_cluster, namespace, "deployment", "vllm") or {}
    status = deployment.get("status") or {}
    return isinstance(status, dict) and status.get("availableReplicas") == 1


def test_flash_up_awaits_the_job_and_engine_keeps_secrets_detects_drift_and_destroy_keeps_the_cache(
    flash: tuple[auto.Stack, str], kube_cluster: LocalCluster, kube_env: dict[str, str]
) -> None:
    stack, namespace = flash
    result = stack.up()
    outputs = {k: v.value for k, v in result.outputs.items()}
    assert outputs["namespace"] == namespace
    assert outputs["endpoint"] == f"http://vllm.{namespace}.svc.cluster.local:8000/v1"
    assert result.outputs["api_key"].secret
    api_key = str(outputs["api_key"])

    # The provider returned only once the download Job was complete and the engine available.
    job = live(kube_cluster, namespace, "job", "model-download")
    assert job and any(c["type"] == "Complete" for c in job["status"]["conditions"])  # type: ignore[index]
    deployment = live(kube_cluster, namespace, "deployment", "vllm")
    assert deployment and deployment["status"]["availableReplicas"] == 1  # type: ignore[index]
    pods = kube_cluster.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/component=server")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [gpu_node_name("H200")]

    # The Secrets hold the values in the cluster; the state holds them only as ciphertext.
    exported = exported_state("k8s-flash-4xh200", kube_env)
    assert '"ciphertext"' in exported
    for value in (CANARY_HF, api_key):
        assert value not in exported, "a secret is in the exported state as plain text"
    backend = Path(os.environ["PULUMI_BACKEND_URL"].removeprefix("file://"))
    for path in backend.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert CANARY_HF not in text and api_key not in text, f"{path} holds a secret in plain text"

    # Out-of-band drift: the Service deleted, the engine scaled to zero. Refresh sees both.
    pvc_uid = live(kube_cluster, namespace, "pvc", "model-cache")["metadata"]["uid"]  # type: ignore[index]
    kube_cluster.kubectl("delete", "service", "vllm", "-n", namespace)
    kube_cluster.kubectl("scale", "deployment", "vllm", "-n", namespace, "--replicas=0")
    refreshed = stack.refresh()
    changes = refreshed.summary.resource_changes or {}
    assert changes.get("delete") == 1, changes
    assert deployment_replicas_in_state(stack) == 0, "refresh did not record the engine scaled to zero"
    # The next up puts back what the stack declares: the Service and one engine replica.
    preview = stack.preview()
    assert preview.change_summary.get("create") == 1, preview.change_summary
    assert preview.change_summary.get("update", 0) >= 1, preview.change_summary
    stack.up()
    assert live(kube_cluster, namespace, "service", "vllm") is not None
    wait_for("the engine back at one replica", lambda: deployment_ready(kube_cluster, namespace))

    # keepCache: destroy removes the engine, Job and Secrets but leaves the namespace and the weight cache.
    stack.destroy()
    assert live(kube_cluster, namespace, "deployment", "vllm") is None
    wait_for("the Secrets deleted", lambda: live(kube_cluster, namespace, "secret", "vllm-api-key") is None)
    assert kube_cluster.kubectl("get", "namespace", namespace, check=False).returncode == 0
    assert live(kube_cluster, namespace, "pvc", "model-cache")["metadata"]["uid"] == pvc_uid  # type: ignore[index]

    # The next up adopts the kept namespace and cache instead of failing on them.
    stack.up()
    assert live(kube_cluster, namespace, "pvc", "model-cache")["metadata"]["uid"] == pvc_uid  # type: ignore[index]
    assert live(kube_cluster, namespace, "deployment", "vllm") is not None


def test_pro_8xh200_up_takes_the_whole_h200_node_and_destroy_removes_it(
    kube_env: dict[str, str], kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = "engine-pro"
    # Existing nodes: no Karpenter controller runs here to launch the preset's NodePool.
    stack_copy(
        tmp_path,
        monkeypatch,
        "k8s-pro-8xh200",
        {"storageClass": STORAGE_CLASS, "namespace": namespace, "nodePool": "existing", "keepCache": False},
    )
    stack = open_workspace({}).stack("k8s-pro-8xh200")
    try:
        stack.up()
        pods = kube_cluster.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/component=server")[
            "items"
        ]
        assert [p["spec"]["nodeName"] for p in pods] == [gpu_node_name("H200")]
        limits = pods[0]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "8"
        # Nothing changed out of band: after a refresh, there is nothing to do.
        stack.refresh()
        preview = stack.preview()
        assert set(preview.change_summary) == {"same"}, preview.change_summary
        stack.destroy()
        # keepCache false: the namespace goes, and with it the weight cache.
        wait_for(
            f"namespace {namespace} removed",
            lambda: kube_cluster.api(f"/api/v1/namespaces/{namespace}")[0] == 404,
        )
    finally:
        stack.destroy()
        delete_namespace(kube_cluster, namespace)
