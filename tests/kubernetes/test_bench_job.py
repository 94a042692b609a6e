"""The Kubernetes benchmark Job: the engine image's own client next to the engine, the key from the Secret.

kwok runs no containers, so the Job itself is judged here as a manifest (and by kube-apiserver's schema in
the live suites' dry runs of the stack); the rehearsal runs the same client in a local shell instead.
"""

from __future__ import annotations

import json

from infra.config import load_stack
from infra.planner import plan
from infra.targets.kubernetes.bench_job import RESULT_DIR, bench_job, job_name
from infra.targets.kubernetes.manifests import API_KEY_KEY, API_KEY_SECRET, CACHE_MOUNT, CACHE_PVC
from infra.validate.benchmark import RESULT_MARKER, EngineUnderTest, Workload, result_from_log
from infra.validate.evaluation import engine_under_test

STACK = "k8s-flash-4xh200"
WORKLOAD = Workload("published", 8192, 1024, 16, 32)


def _job() -> tuple[dict, EngineUnderTest]:  # type: ignore[type-arg]
    spec = load_stack(STACK)
    the_plan = plan(spec.plan_request(), spec.catalog)
    target = EngineUnderTest(
        **{
            **engine_under_test(the_plan).__dict__,
            "host": f"vllm.{spec.namespace}.svc",
            "hf_home": CACHE_MOUNT,
            "result_dir": RESULT_DIR,
        }
    )
    return bench_job(spec, the_plan, WORKLOAD, target, "gpu-node-1", timeout=600), target


def test_the_job_runs_the_engine_images_client_on_the_engines_node_with_the_cache_read_only() -> None:
    job, _ = _job()
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        job["metadata"]["name"]
        == "vllm-bench-published-8192-1024-c16"
        == job_name(plan(load_stack(STACK).plan_request()), WORKLOAD)
    )
    assert job["metadata"]["namespace"] == load_stack(STACK).namespace == "deepseek-v4-flash"
    assert job["metadata"]["labels"]["app.kubernetes.io/instance"] == STACK, "billed, so teardown removes it"
    assert container["image"] == plan(load_stack(STACK).plan_request()).engine.image
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "gpu-node-1"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "nvidia.com/gpu" not in json.dumps(container["resources"]), "the client takes no GPU"
    assert container["volumeMounts"] == [{"name": "model-cache", "mountPath": CACHE_MOUNT, "readOnly": True}]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == CACHE_PVC
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 600


def test_the_key_comes_from_the_secret_and_the_client_targets_the_service_offline() -> None:
    job, _ = _job()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (env,) = container["env"]
    assert env == {
        "name": "OPENAI_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY_KEY}},
    }
    script = container["command"][2]
    assert container["command"][:2] == ["bash", "-c"]
    assert "env HF_HUB_OFFLINE=1 HF_HOME=/models vllm bench serve" in script
    assert "--host vllm.deepseek-v4-flash.svc --port 8000" in script
    assert script.endswith(f"echo {RESULT_MARKER} && cat {RESULT_DIR}/published-8192-1024-c16.json")


def test_the_result_is_what_the_job_printed_after_the_marker() -> None:
    log = (
        "Starting...\n============ Serving Benchmark Result ============\n"
        + RESULT_MARKER
        + '\n{"completed": 32}\n'
    )
    assert result_from_log(log) == '{"completed": 32}\n'
    assert result_from_log("Traceback (most recent call last):\n") == ""
