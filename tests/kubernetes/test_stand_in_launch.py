"""A Kubernetes rehearsal's stand-in engine, as the target asks for it through `StandIns` (no cluster):
stand_in_launch.py reads the engine from the API server for the rehearsal's `local_engines`.

kwok runs no containers, so the target reads the Deployment the API server holds and hands the engine's
command, args, env, GPUs and key to the rehearsal's `local_engines`; the checks then go to that engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_stack
from infra.planner import plan
from infra.rehearsal import LogFile
from infra.targets.base import Credentials, EngineLaunch, TargetContext
from infra.targets.kubernetes.manifests import render_manifests
from infra.targets.kubernetes.target import KubernetesTarget

STACK = "k8s-flash-4xh200"


@dataclass
class FakeKubectl:
    """Answers the reads the stand-in wiring makes, from the rendered objects; raises on anything else."""

    objects: dict[tuple[str, str], Any]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def json(self, *args: str) -> Any:
        self.calls.append(args)
        if args[0] == "get" and (args[1], args[2]) in self.objects:
            return self.objects[(args[1], args[2])]
        if args[:2] == ("get", "pods"):
            return self.objects[("pods", "")]
        raise AssertionError(f"unscripted kubectl call: {args}")


@dataclass
class FakeEngine:
    url: str = "http://127.0.0.1:1"
    running: bool = True

    def log(self) -> LogFile:
        return LogFile(Path("/nonexistent/engine.log"))

    def alive(self) -> bool:
        return self.running


@dataclass
class RecordingEngines:
    """`LocalEngines` that records each launch and hands out one FakeEngine, stopped on exit."""

    launches: list[EngineLaunch] = field(default_factory=list)
    engine: FakeEngine = field(default_factory=FakeEngine)

    @contextlib.contextmanager
    def run(self, launch: EngineLaunch) -> Iterator[FakeEngine]:
        self.launches.append(launch)
        self.engine.running = True
        try:
            yield self.engine
        finally:
            self.engine.running = False


@dataclass
class FakeRehearsal:
    engines: RecordingEngines = field(default_factory=RecordingEngines)

    @property
    def local_engines(self) -> RecordingEngines:
        return self.engines


def engine_pod(node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "vllm-0"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": 4}}}],
        },
        "status": {"phase": "Running"},
    }


@pytest.fixture
def target() -> tuple[KubernetesTarget, RecordingEngines]:
    spec = load_stack(STACK)
    p = plan(spec.plan_request(), spec.catalog)
    (deployment,) = [m.obj for m in render_manifests(spec, p) if m.kind == "Deployment"]
    rehearsal = FakeRehearsal()
    context = TargetContext(
        spec=spec,
        plan=p,
        env={},
        credentials=Credentials(),
        state_dir=Path("/nonexistent"),
        rehearsal=rehearsal,
    )
    target = KubernetesTarget(context)
    node = {"metadata": {"labels": {"nvidia.com/gpu.product": "NVIDIA-H200-NVL"}}}
    objects = {
        ("deployment", deployment["metadata"]["name"]): deployment,
        ("node", "kwok-h200-0"): node,
        ("pods", ""): {"items": [engine_pod("kwok-h200-0")]},
    }
    target.__dict__["kubectl"] = FakeKubectl(objects)  # the cached kubectl, replaced before first use
    return target, rehearsal.engines


def test_the_stand_in_engine_starts_from_the_deployment_the_api_server_holds(
    target: tuple[KubernetesTarget, RecordingEngines],
) -> None:
    kube, engines = target
    spec = load_stack(STACK)
    p = plan(spec.plan_request(), spec.catalog)
    (deployment,) = [m.obj for m in render_manifests(spec, p) if m.kind == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    with kube.shell({"api_key": "sk-rehearsal"}):
        endpoint = kube.endpoint({"api_key": "sk-rehearsal"})
        assert kube.alive({})
    (launch,) = engines.launches
    assert launch.argv == (*container.get("command", [])[1:], *container.get("args", []))
    assert launch.image == container["image"]
    assert launch.port == container["ports"][0]["containerPort"]
    # The GPUs as the node's GPU feature discovery label names them, as many as the pod was given.
    assert (launch.gpu_type, launch.gpu_count) == ("NVIDIA H200 NVL", 4)
    assert launch.api_key == "sk-rehearsal" and "sk-rehearsal" not in repr(launch)
    assert endpoint.url == engines.engine.url and endpoint.api_key == "sk-rehearsal"


def test_the_engine_is_not_alive_once_the_shell_that_ran_it_ends(
    target: tuple[KubernetesTarget, RecordingEngines],
) -> None:
    kube, engines = target
    with kube.shell({"api_key": "k"}):
        engines.engine.running = False  # the stand-in engine died
        assert not kube.alive({})
    assert not kube.alive({}), "no engine runs outside shell(), so nothing serves"
