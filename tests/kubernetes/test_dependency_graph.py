"""Resolving declared dependencies: each object after what it waits for, and one line when one is missing."""

from __future__ import annotations

import pytest

from infra.errors import ConfigError
from infra.targets.kubernetes.dependency_graph import (
    ObjectRef,
    StackObject,
    required,
    resolve,
    when_present,
)

NS = ObjectRef("Namespace", "dsv4")
PVC = ObjectRef("PersistentVolumeClaim", "model-cache")
JOB = ObjectRef("Job", "model-download")
ENGINE = ObjectRef("Deployment", "vllm")
SERVICE = ObjectRef("Service", "vllm")
TOKEN = ObjectRef("Secret", "hf-token")
DECLARED = {
    NS: (),
    PVC: (),
    TOKEN: (),
    SERVICE: (),
    JOB: (required("PersistentVolumeClaim", "model-cache"), when_present("Secret", "hf-token")),
    ENGINE: (required("Job", "model-download"),),
}


def objects(*refs: ObjectRef) -> list[StackObject]:
    return [StackObject(r, None if r.kind == "Namespace" else "dsv4") for r in refs]


def test_each_object_comes_after_what_it_waits_for_and_keeps_its_place_otherwise() -> None:
    order = resolve(objects(ENGINE, SERVICE, JOB, NS, PVC), DECLARED, where="stack.yaml")
    assert list(order) == [NS, SERVICE, PVC, JOB, ENGINE]
    # Every namespaced object waits for its Namespace; the Job for the cache it fills.
    assert order[JOB] == (NS, PVC)
    assert order[ENGINE] == (NS, JOB)
    assert order[SERVICE] == (NS,)


def test_a_dependency_waited_for_when_present_is_skipped_when_absent_and_kept_when_present() -> None:
    without = resolve(objects(NS, PVC, JOB), DECLARED, where="stack.yaml")
    assert without[JOB] == (NS, PVC)
    with_token = resolve(objects(NS, JOB, PVC, TOKEN), DECLARED, where="stack.yaml")
    assert with_token[JOB] == (NS, PVC, TOKEN)
    assert list(with_token).index(TOKEN) < list(with_token).index(JOB)


def test_a_missing_required_dependency_is_one_line_naming_the_object_and_what_it_waits_for() -> None:
    with pytest.raises(ConfigError) as err:
        resolve(objects(NS, JOB, ENGINE), DECLARED, where="stacks/Pulumi.s.yaml")
    message = str(err.value)
    assert message.startswith(
        "stacks/Pulumi.s.yaml: Job model-download waits for PersistentVolumeClaim model-cache, "
        "which the stack does not create"
    ), message
    assert "\n" not in message


def test_a_namespaced_object_needs_its_namespace() -> None:
    with pytest.raises(ConfigError, match="Service vllm waits for Namespace dsv4"):
        resolve(objects(SERVICE), DECLARED, where="s")


def test_an_object_without_a_declaration_is_refused_by_name() -> None:
    renamed = ObjectRef("Job", "fetch-weights")
    with pytest.raises(ConfigError, match="Job fetch-weights declares nothing it waits for"):
        resolve(objects(NS, PVC, renamed), DECLARED, where="s")


def test_objects_provided_outside_count_as_present_but_are_not_ordered() -> None:
    declared = {**DECLARED, ENGINE: (required("Secret", "vllm-api-key"),)}
    order = resolve(objects(NS, ENGINE), declared, where="s", outside={ObjectRef("Secret", "vllm-api-key")})
    assert order == {NS: (), ENGINE: (NS,)}
    with pytest.raises(ConfigError, match="Deployment vllm waits for Secret vllm-api-key"):
        resolve(objects(NS, ENGINE), declared, where="s")


def test_objects_that_wait_for_each_other_are_refused() -> None:
    declared = {**DECLARED, PVC: (required("Job", "model-download"),)}
    with pytest.raises(ConfigError, match="wait for each other"):
        resolve(objects(NS, PVC, JOB), declared, where="s")


def test_an_object_rendered_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="renders PersistentVolumeClaim model-cache more than once"):
        resolve(objects(NS, PVC, PVC), DECLARED, where="s")
