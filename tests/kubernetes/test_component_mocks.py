"""`KubernetesDeployment` under Pulumi mocks: it applies exactly the rendered manifests, in order, with secrets."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest_mocks import Recorder
from pulumi.runtime import rpc

from infra import config
from infra.planner import plan

CANARY_HF = "hf_canary_component_0123456789"
COMPONENT = "deepseek-v4-infra:kubernetes:Deployment"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _after_all(comp: Any, *outputs: Any) -> pulumi.Output[list[Any]]:
    """`outputs`, resolved once every child is registered (children wait for their dependencies)."""
    return pulumi.Output.all(*outputs, *(r.urn for r in comp.resources.values()))


def _deploy(stack: str) -> tuple[Any, Any, Any]:
    from infra.targets.kubernetes.component import KubernetesDeployment, KubernetesDeploymentArgs

    spec = config.load_stack(stack)
    p = plan(spec.plan_request(), spec.catalog)
    comp = KubernetesDeployment(
        stack, KubernetesDeploymentArgs(spec=spec, plan=p, hf_token=pulumi.Output.secret(CANARY_HF))
    )
    return spec, p, comp


@pytest.mark.parametrize(
    ("stack", "kinds"),
    [
        (
            "k8s-flash-4xh200",
            {
                "Namespace",
                "PersistentVolumeClaim",
                "ConfigMap",
                "Job",
                "Deployment",
                "Service",
                "NetworkPolicy",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "Secret",
            },
        ),
        (
            "k8s-pro-8xh200",
            {
                "Namespace",
                "PersistentVolumeClaim",
                "ConfigMap",
                "Job",
                "Deployment",
                "Service",
                "NetworkPolicy",
                "NodePool",
                "Secret",
            },
        ),
        (
            "k8s-pro-2x8xh100",
            {
                "Namespace",
                "PersistentVolumeClaim",
                "ConfigMap",
                "Job",
                "LeaderWorkerSet",
                "Service",
                "NetworkPolicy",
                "NodePool",
                "Secret",
            },
        ),
    ],
)
def test_the_component_applies_every_rendered_object_under_itself(
    recorder: Recorder, stack: str, kinds: set[str]
) -> None:
    from infra.targets.kubernetes.manifests import render_manifests

    @pulumi.runtime.test
    def check() -> Any:
        spec, p, comp = _deploy(stack)

        def verify(values: list[Any]) -> None:
            endpoint, api_key = values[:2]
            assert endpoint == f"http://vllm.{spec.namespace}.svc.cluster.local:8000/v1"
            assert api_key == "generated-under-mocks"
            parent = recorder.by_name(stack)
            assert parent.typ == COMPONENT
            children = [r for r in recorder.registered if r.parent == parent.urn]
            assert {r.object.get("kind") for r in children if r.typ.startswith("kubernetes:")} == kinds
            assert all(r.name.startswith(f"{stack}-") for r in children)
            # One source of truth: every rendered object is applied with the same name and spec.
            applied = {
                (r.object["kind"], r.object["metadata"]["name"]): r.object
                for r in children
                if "kind" in r.object
            }
            for m in render_manifests(spec, p):
                assert applied[(m.kind, m.name)].get("spec") == m.obj.get("spec"), m.filename

        return _after_all(comp, comp.endpoint, comp.api_key).apply(verify)

    check()


@pytest.mark.parametrize(
    ("stack", "engine_stem"),
    [
        ("k8s-flash-4xh200", "deployment-engine"),
        ("k8s-pro-8xh200", "deployment-engine"),
        ("k8s-pro-2x8xh100", "leaderworkerset-engine"),
    ],
)
def test_secrets_are_secret_inputs_and_the_download_job_precedes_the_engine(
    recorder: Recorder, stack: str, engine_stem: str
) -> None:
    @pulumi.runtime.test
    def check() -> Any:
        _spec, _p, comp = _deploy(stack)

        def verify(_: Any) -> None:
            hf = recorder.by_name(f"{stack}-secret-hf-token")
            api = recorder.by_name(f"{stack}-secret-api-key")
            assert hf.object["metadata"]["name"] == "hf-token"
            # The whole stringData travels as a secret, so the engine encrypts it in state.
            assert _is_secret(hf.object["stringData"])
            assert hf.object["stringData"]["value"] == {"HF_TOKEN": CANARY_HF}
            assert _is_secret(api.object["stringData"])
            assert api.object["stringData"]["value"] == {"VLLM_API_KEY": "generated-under-mocks"}
            job = recorder.by_name(f"{stack}-job-model-download")
            engine = recorder.by_name(f"{stack}-{engine_stem}")
            namespace = recorder.by_name(f"{stack}-namespace")
            assert job.urn in engine.dependencies
            assert api.urn in engine.dependencies
            assert hf.urn in job.dependencies
            assert namespace.urn in job.dependencies
            # The canary token reached the cluster only inside the Secret, never in another object.
            for r in recorder.registered:
                if r is not hf:
                    assert CANARY_HF not in str(r.object), r.name

        return _after_all(comp).apply(verify)

    check()


# What each object waits for, by its Pulumi name (`<stack>-<name>`), as existing stacks' state records them.
FLASH_WAITS = {
    "namespace": set(),
    "secret-hf-token": {"namespace"},
    "secret-api-key": {"namespace"},
    "pvc-model-cache": {"namespace"},
    "configmap-weights": {"namespace"},
    "job-model-download": {"namespace", "pvc-model-cache", "configmap-weights", "secret-hf-token"},
    "deployment-engine": {"namespace", "job-model-download", "pvc-model-cache", "secret-api-key"},
    "service-engine": {"namespace"},
    "networkpolicy-engine": {"namespace"},
    "serviceaccount-reaper": {"namespace"},
    "role-reaper": {"namespace"},
    "rolebinding-reaper": {"namespace"},
    "configmap-reaper": {"namespace"},
    "job-reaper": {
        "namespace",
        "serviceaccount-reaper",
        "role-reaper",
        "rolebinding-reaper",
        "configmap-reaper",
    },
}


@pytest.mark.parametrize("shuffle", [False, True], ids=["as-rendered", "files-renamed-and-reordered"])
def test_renaming_template_files_changes_no_pulumi_name_and_drops_no_dependency(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, shuffle: bool
) -> None:
    from infra.targets.kubernetes import manifests

    if shuffle:
        # Every file renamed and the render order reversed: the reaper's Job renders first.
        shuffled = tuple(
            (f"{i:02d}-object-{i}.yaml", template, when)
            for i, (_, template, when) in enumerate(reversed(manifests.SLOTS))
        )
        monkeypatch.setattr(manifests, "SLOTS", shuffled)
    stack = "k8s-flash-4xh200"

    @pulumi.runtime.test
    def check() -> Any:
        _spec, _p, comp = _deploy(stack)

        def verify(_: Any) -> None:
            objects = [r for r in recorder.registered if r.typ.startswith("kubernetes:")]
            short = {r.urn: r.name.removeprefix(f"{stack}-") for r in objects}
            # The API key's Secret also waits for the generated key (a dynamic resource, not an object).
            waits = {short[r.urn]: {short[d] for d in r.dependencies if d in short} for r in objects}
            assert waits == FLASH_WAITS

        return _after_all(comp).apply(verify)

    check()
