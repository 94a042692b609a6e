"""The rendered manifests: schema-valid, carrying the plan's GPUs, flags, probes and cache, refusing what cannot work."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubelet import kubelet_expand

from infra import config
from infra.errors import ConfigError, PlanError
from infra.plan import Plan
from infra.planner import plan
from infra.targets.kubernetes.manifests import Manifest, render_manifests

PRESETS = ("k8s-flash-4xh200", "k8s-pro-8xh200")
K8S_VERSION = kubernetes_validate.latest_version()
# Kinds whose CRD schemas kubernetes-validate does not ship: checked field by field below.
CRD_KINDS = {("karpenter.sh/v1", "NodePool")}
RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
)
WEIRD = '": {}[]#&*!|>\'"%@ $(HOME) $$ `x` ; rm -rf / \\ end'


def preset(stack: str) -> tuple[config.StackSpec, Plan, list[Manifest]]:
    spec = config.load_stack(stack)
    p = plan(spec.plan_request(), spec.catalog)
    return spec, p, render_manifests(spec, p)


def adhoc(**raw: Any) -> tuple[config.StackSpec, Plan]:
    spec = config.parse({"target": "kubernetes", **raw}, stack="adhoc", source="test")
    return spec, plan(spec.plan_request(), spec.catalog)


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [m.obj for m in manifests if m.kind == kind and (name is None or m.name == name)]
    assert len(found) == 1, (kind, name, [m.filename for m in manifests])
    return found[0]


def engine_container(manifests: list[Manifest]) -> dict[str, Any]:
    return one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("stack", PRESETS)
def test_every_manifest_validates_against_the_kubernetes_schema(stack: str) -> None:
    _spec, _p, manifests = preset(stack)
    for m in manifests:
        if (m.obj["apiVersion"], m.kind) in CRD_KINDS:
            assert m.obj["metadata"]["name"] and m.obj["spec"]["template"]["spec"]["requirements"]
            continue
        kubernetes_validate.validate(m.obj, K8S_VERSION, strict=True)


def test_the_schema_check_is_not_vacuous() -> None:
    _spec, _p, manifests = preset("k8s-flash-4xh200")
    broken = yaml.safe_load(yaml.safe_dump(one(manifests, "Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["gpus"] = 4
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("stack", PRESETS)
def test_the_engine_gets_the_plans_gpus_flags_image_and_probes(stack: str) -> None:
    spec, p, manifests = preset(stack)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    c = engine_container(manifests)
    assert c["image"] == p.engine.image
    assert c["command"] == list(p.engine.command)
    assert c["args"] == list(p.engine.args)
    assert c["resources"]["limits"] == {"nvidia.com/gpu": p.gpu_count}
    assert pod["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H200"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    env = {e["name"]: e for e in c["env"]}
    assert env["HF_HOME"]["value"] == "/models"
    assert env["HF_HUB_OFFLINE"]["value"] == "1"
    assert all(env[k]["value"] == v for k, v in p.engine.env.items() if k != "HF_HOME")
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "vllm-api-key", "key": "VLLM_API_KEY"}
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= p.load_minutes * 60
    assert c["readinessProbe"]["httpGet"]["path"] == c["livenessProbe"]["httpGet"]["path"] == "/health"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["shm"]["emptyDir"]["sizeLimit"].endswith("Gi")
    # The claim is writable for the compile caches alone: the weights are mounted read-only.
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "model-cache"}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True and "/dev/shm" in mounts
    writable = [m for m in c["volumeMounts"] if m["name"] == "model-cache" and not m.get("readOnly")]
    assert writable == [
        {"name": "model-cache", "mountPath": "/compile-cache", "subPath": ".v4infra/compile-cache"}
    ]
    assert all(
        env[k]["value"].startswith("/compile-cache/vllm-0.31.0/h200-sm90/")
        for k in (
            "VLLM_CACHE_ROOT",
            "DG_JIT_CACHE_DIR",
            "FLASHINFER_WORKSPACE_BASE",
            "TILELANG_CACHE_DIR",
            "TRITON_CACHE_DIR",
        )
    )
    # The engine starts only once the download Job has written the completeness marker.
    wait = pod["initContainers"][0]["command"][2]
    assert f"/models/.v4infra/complete-{p.model.replace('/', '--')}.json" in shlex.split(wait)
    assert one(manifests, "Deployment")["spec"]["strategy"]["type"] == "Recreate"
    service = one(manifests, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["metadata"]["namespace"] == spec.namespace


@pytest.mark.parametrize("stack", PRESETS)
def test_the_download_job_fills_the_cache_on_cpu_with_weights_py(stack: str) -> None:
    _spec, p, manifests = preset(stack)
    job = one(manifests, "Job", "model-download")
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert "nvidia.com/gpu" not in yaml.safe_dump(job)
    assert "tolerations" not in pod
    assert c["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    assert c["resources"]["limits"] == {"cpu": "8", "memory": "16Gi"}
    assert c["args"] == [
        "fill",
        "--cache-dir",
        "/models",
        "--repo",
        p.model,
        "--revision",
        "main",
        "--max-workers",
        "4",
    ]
    assert "huggingface_hub==2.4.0" in c["command"][2]
    hf = next(e for e in c["env"] if e["name"] == "HF_TOKEN")
    assert hf["valueFrom"]["secretKeyRef"]["name"] == "hf-token"
    assert hf["valueFrom"]["secretKeyRef"]["key"] == "HF_TOKEN"
    assert job["spec"]["backoffLimit"] > 0 and job["spec"]["ttlSecondsAfterFinished"] > 0
    script = one(manifests, "ConfigMap", "weights-script")["data"]["weights.py"]
    assert script == (Path(__file__).resolve().parents[2] / "infra" / "weights.py").read_text()


def test_the_download_jobs_command_fills_the_cache_the_engine_waits_for(tmp_path: Path) -> None:
    """The Job's own command and script against a Hub stand-in; then the engine's init wait passes at once."""
    from infra.emulator.hub import FakeHub

    _spec, p, manifests = preset("k8s-flash-4xh200")
    c = one(manifests, "Job", "model-download")["spec"]["template"]["spec"]["containers"][0]
    scripts, cache = tmp_path / "scripts", tmp_path / "models"
    scripts.mkdir()
    data = one(manifests, "ConfigMap", "weights-script")["data"]
    (scripts / "weights.py").write_text(data["weights.py"])
    (scripts / "read_rate_probe.py").write_text(data["read_rate_probe.py"])
    install, run = c["command"][2].split(" && ", 1)
    assert install.startswith("pip install")  # the image's pip; here the project's venv has the same pin
    run = run.replace("/scripts/", f"{scripts}/").replace(" /models/", f" {cache}/")
    args = [a.replace("/models", str(cache)) for a in c["args"]]
    with FakeHub() as hub:
        hub.add_fake_checkpoint(p.model, shards=2, shard_bytes=1024)
        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "HF_ENDPOINT": hub.url,
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        filled = subprocess.run(
            [*c["command"][:2], run, c["command"][3], *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert filled.returncode == 0, filled.stdout + filled.stderr
    *_, done, measured = filled.stdout.splitlines()
    assert json.loads(done)["event"] == "done"
    # Then the probe times the claim: one record in the Job's log, keyed by the storage class (2 KiB of
    # shards are less than one level here, so it says why; it never fails the Job).
    record = json.loads(measured)
    assert (record["probe"], record["data_center"], record["tier"], record["storage"]) == (
        "v4infra-read-rate", "kubernetes", "efs-sc", "pvc",
    )  # fmt: skip
    assert record["path"] == f"{cache}/hub/models--deepseek-ai--DeepSeek-V4-Flash" and record["error"]
    wait = one(manifests, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]["command"]
    waited = subprocess.run(
        [*wait[:2], wait[2].replace("/models", str(cache))], capture_output=True, timeout=60
    )
    assert waited.returncode == 0 and b"waiting" not in waited.stdout


def test_the_cache_is_sized_from_the_plan_and_never_below_the_checkpoints_need() -> None:
    _spec, _p, flash = preset("k8s-flash-4xh200")
    pvc = one(flash, "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "400Gi"  # cache_pvc_gi beats 190 GB
    assert pvc["spec"]["storageClassName"] == "efs-sc"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]  # one node reads it
    spec, p = adhoc(model="flash", gpu="H200", gpuCount=4, cacheSizeGb=2000, accessMode="ReadWriteMany")
    pvc = one(render_manifests(spec, p), "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1863Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "storageClassName" not in pvc["spec"]  # the cluster's default class


def test_the_network_policy_admits_only_the_named_namespaces_and_its_own() -> None:
    _spec, _p, manifests = preset("k8s-pro-8xh200")
    policy = one(manifests, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    sources = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {}} in sources
    named = [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in sources[1:]]
    assert named == ["apps", "gateway"]


def test_karpenter_gets_a_node_pool_of_the_catalogs_instance_types() -> None:
    spec, p, manifests = preset("k8s-pro-8xh200")
    pool = one(manifests, "NodePool")
    assert pool["apiVersion"] == "karpenter.sh/v1"
    assert "namespace" not in pool["metadata"]
    tmpl = pool["spec"]["template"]["spec"]
    types = next(r for r in tmpl["requirements"] if r["key"] == "node.kubernetes.io/instance-type")
    assert types["values"] == ["p5e.48xlarge", "p5en.48xlarge"]
    assert tmpl["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    assert tmpl["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": 8}
    assert pool["spec"]["template"]["metadata"]["labels"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["karpenter.sh/nodepool"] == pool["metadata"]["name"]
    spec, p = adhoc(model="flash", gpu="H100", gpuCount=8, nodePool="karpenter", karpenterNodeClass="gpu")
    pool = one(render_manifests(spec, p), "NodePool")
    assert pool["spec"]["template"]["spec"]["requirements"][0]["values"] == ["p5.48xlarge"]
    assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu"


def test_karpenter_without_a_catalog_instance_type_is_refused() -> None:
    spec, p = adhoc(model="flash", gpu="H200", gpuCount=4, nodePool="karpenter")
    with pytest.raises(ConfigError, match=r"no AWS instance type with 4x H200.*nodePool: existing"):
        render_manifests(spec, p)


def test_existing_nodes_get_no_pool_only_selectors_and_tolerations() -> None:
    _spec, _p, manifests = preset("k8s-flash-4xh200")
    assert not [m for m in manifests if m.kind == "NodePool"]
    assert (
        "karpenter.sh/nodepool"
        not in one(manifests, "Deployment")["spec"]["template"]["spec"]["nodeSelector"]
    )


def test_an_ephemeral_stack_gets_a_reaper_that_may_delete_only_its_namespace() -> None:
    spec, _p, manifests = preset("k8s-flash-4xh200")
    role = one(manifests, "Role", "reaper")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": [spec.namespace],
            "verbs": ["get", "delete"],
        }
    ]
    binding = one(manifests, "RoleBinding", "reaper")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reaper", "namespace": spec.namespace}]
    job = one(manifests, "Job", "reaper")
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == [spec.namespace, str(240 * 60)]
    assert job["spec"]["activeDeadlineSeconds"] > 240 * 60
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "reaper"
    assert "def reap(" in one(manifests, "ConfigMap", "reaper-script")["data"]["reaper.py"]
    _spec, _p, permanent = preset("k8s-pro-8xh200")
    assert not [m for m in permanent if "reaper" in m.filename]


@pytest.mark.parametrize("stack", PRESETS)
def test_every_object_carries_the_recommended_labels_and_the_stack(stack: str) -> None:
    _spec, _p, manifests = preset(stack)
    for m in manifests:
        lab = m.obj["metadata"]["labels"]
        assert all(k in lab for k in RECOMMENDED), m.filename
        assert lab["app.kubernetes.io/instance"] == stack
        assert lab["app.kubernetes.io/part-of"] == "deepseek-v4-infra"
    assert [m.filename for m in manifests] == sorted(m.filename for m in manifests)


@pytest.mark.parametrize("stack", PRESETS)
def test_rendering_twice_gives_the_same_text(stack: str) -> None:
    _spec, _p, first = preset(stack)
    _spec, _p, second = preset(stack)
    assert [(m.filename, m.text) for m in first] == [(m.filename, m.text) for m in second]


def test_yaml_and_shell_metacharacters_in_args_model_and_env_arrive_exactly() -> None:
    spec, p, _ = preset("k8s-flash-4xh200")
    weird_model = "org/" + WEIRD
    weird = replace(
        p,
        model=weird_model,
        engine=replace(p.engine, args=(*p.engine.args, "--x", WEIRD, "multi\nline"), env={"WEIRD": WEIRD}),
    )
    manifests = render_manifests(spec, weird)
    c = engine_container(manifests)
    pod_env = {"HOME": "/root", "VLLM_API_KEY": "k", **{e["name"]: e.get("value", "") for e in c["env"]}}
    assert [kubelet_expand(a, pod_env) for a in c["args"]] == list(weird.engine.args)
    value = next(e["value"] for e in c["env"] if e["name"] == "WEIRD")
    assert kubelet_expand(value, pod_env) == WEIRD
    job = one(manifests, "Job", "model-download")["spec"]["template"]["spec"]["containers"][0]
    assert kubelet_expand(job["args"][4], pod_env) == weird_model
    wait = one(manifests, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]["command"][2]
    words = shlex.split(kubelet_expand(wait, pod_env))
    assert f"/models/.v4infra/complete-{weird_model.replace('/', '--')}.json" in words
    for m in manifests:
        if (m.obj["apiVersion"], m.kind) not in CRD_KINDS:
            kubernetes_validate.validate(m.obj, K8S_VERSION, strict=True)


class FakeApiServer:
    """A Kubernetes API stand-in on 127.0.0.1 holding one namespace, recording every request."""

    def __init__(self, namespace: str, created: datetime | None) -> None:
        self.namespace, self.created = namespace, created
        self.requests: list[tuple[str, str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                exists = fake.created is not None and self.path == f"/api/v1/namespaces/{fake.namespace}"
                if not exists:
                    self.send_response(404)
                    self.end_headers()
                    return
                stamp = fake.created.strftime("%Y-%m-%dT%H:%M:%SZ") if fake.created else ""
                if self.command == "DELETE":
                    fake.created = None
                body = json.dumps({"metadata": {"name": fake.namespace, "creationTimestamp": stamp}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def reaper_script(tmp_path: Path) -> Iterator[Path]:
    """The reaper exactly as the rendered ConfigMap ships it."""
    _spec, _p, manifests = preset("k8s-flash-4xh200")
    path = tmp_path / "reaper.py"
    path.write_text(one(manifests, "ConfigMap", "reaper-script")["data"]["reaper.py"])
    (tmp_path / "token").write_text("reaper-token\n")
    yield path


def run_reaper(script: Path, api: FakeApiServer, ttl_s: int) -> subprocess.CompletedProcess[str]:
    token = script.parent / "token"
    cmd = [
        sys.executable,
        str(script),
        api.namespace,
        str(ttl_s),
        "--api",
        api.url,
        "--token-file",
        str(token),
    ]
    return subprocess.run([*cmd, "--max-sleep", "0.2"], capture_output=True, text=True, timeout=60)


def test_the_reaper_deletes_an_expired_namespace_with_its_service_account_token(reaper_script: Path) -> None:
    api = FakeApiServer("stack-ns", datetime.now(UTC) - timedelta(hours=5))
    try:
        result = run_reaper(reaper_script, api, ttl_s=4 * 3600)
    finally:
        api.server.shutdown()
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("DELETE", "/api/v1/namespaces/stack-ns", "Bearer reaper-token") in api.requests
    assert json.loads(result.stdout.splitlines()[-1]) == {"event": "deleted", "namespace": "stack-ns"}


def test_the_reaper_waits_for_the_deadline_counted_from_the_namespaces_creation(reaper_script: Path) -> None:
    api = FakeApiServer("stack-ns", datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3600))
    try:
        result = run_reaper(reaper_script, api, ttl_s=3602)
    finally:
        api.server.shutdown()
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert events[0] == "waiting" and events[-1] == "deleted"
    assert [r[0] for r in api.requests].count("DELETE") == 1


def test_the_reaper_is_done_when_the_namespace_is_already_gone(reaper_script: Path) -> None:
    api = FakeApiServer("stack-ns", None)
    try:
        result = run_reaper(reaper_script, api, ttl_s=60)
    finally:
        api.server.shutdown()
    assert result.returncode == 0
    assert [r[0] for r in api.requests] == ["GET"]


def test_a_no_fit_plan_refuses_to_render_with_the_planners_message() -> None:
    spec, p = adhoc(model="pro", gpu="H100", gpuCount=8)
    assert p.verdict == "no-fit"
    with pytest.raises(PlanError, match=r"does not fit 8x H100-SXM: weights are 865 GB"):
        render_manifests(spec, p)


def test_two_nodes_without_a_shared_storage_class_are_refused_before_rendering() -> None:
    spec, p = adhoc(model="pro", gpu="H200", gpuCount=8, nodes=2)
    assert p.verdict == "fits"
    with pytest.raises(ConfigError, match="2 nodes read the weight cache at once"):
        render_manifests(spec, p)


def test_a_runpod_stack_is_not_rendered_as_manifests() -> None:
    spec = config.load_stack("flash-4xh200")
    with pytest.raises(ConfigError, match="targets runpod"):
        render_manifests(spec, plan(spec.plan_request(), spec.catalog))


def test_a_namespace_or_storage_class_kubernetes_would_reject_is_caught_at_config_validation() -> None:
    with pytest.raises(ConfigError, match="namespace"):
        adhoc(model="flash", gpu="H200", gpuCount=4, namespace="Bad_Name")
    with pytest.raises(ConfigError, match="storageClass"):
        adhoc(model="flash", gpu="H200", gpuCount=4, storageClass="fast ssd")


def test_nodes_you_provide_are_selected_by_the_driver_label_the_image_needs() -> None:
    spec, p, manifests = preset("k8s-flash-4xh200")
    assert spec.node_pool == "existing" and p.engine.min_driver == 580
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"] == [
        {"key": "nvidia.com/cuda.driver.major", "operator": "Gt", "values": ["579"]}
    ]
    # A Karpenter pool's new nodes carry no feature-discovery label yet: selecting by it would never schedule.
    spec, p, manifests = preset("k8s-pro-8xh200")
    assert spec.node_pool == "karpenter" and p.engine.min_driver == 580
    assert "affinity" not in one(manifests, "Deployment")["spec"]["template"]["spec"]
