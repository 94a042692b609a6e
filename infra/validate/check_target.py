"""What the validation checks ask of a target, whatever it is (RunPod, Kubernetes, a third one).

    CheckTarget              the part of infra.targets.base.Target the checks speak to
    ├── contract_check(...)  prove the provider still behaves as the deploy path assumes (the canary)
    ├── shell(outputs)       a context for commands on the serving machine (SSH, or the cluster's API)
    ├── gpu_preflight(...)   the GPUs, disk and cache the plan assumed, judged as a validation stage
    ├── endpoint(outputs)    where the OpenAI-compatible API answers, and its key
    ├── logs(shell, outputs) the engine's log, read a few new lines at a time
    ├── alive(outputs)       False once the serving pod died or vanished
    ├── machine(shell, ...)  where the accuracy and benchmark stages run, next to the engine
    └── image_id(outputs)    the image digest the provider says the engine runs, where it says one

It lives below the targets, so the checks (infra.validate.pipeline) never import a target, and
`Target` extends it with what only the lifecycle needs (what is billed, removal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from infra.validate.benchmark import BenchHost
from infra.validate.stages import StageResult


@dataclass(frozen=True)
class Endpoint:
    """The engine's OpenAI-compatible API: base URL (no /v1) and the key it requires."""

    url: str
    api_key: str

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, api_key=[secret])"


class LineSource(Protocol):
    """New lines of the engine's log since the last call ([] while there is none yet)."""

    def read_new(self) -> list[str]: ...


class ServingMachine(BenchHost, Protocol):
    """Next to the engine: commands (the dataset read from the weight cache) and the engine's own benchmark.

    RunPod: the pod's SSH shell. Kubernetes: `kubectl exec` in the engine pod, the benchmark in a Job
    with the engine image. A Kubernetes rehearsal: a local shell beside the locally run stand-in engine."""

    @property
    def cache_dir(self) -> str:
        """HF_HOME of the weight cache there (the dataset is cached beside the checkpoint)."""
        ...

    @property
    def engine_host(self) -> str:
        """How the benchmark client reaches the engine's port from where it runs."""
        ...

    @property
    def result_dir(self) -> str:
        """Where the benchmark client writes its result file there."""
        ...

    def run(self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None) -> Any: ...


class CheckTarget(Protocol):
    """A deployment target as the validation checks see it (see the module docstring)."""

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        """Prove the provider still behaves as the deploy path assumes, before anything is rented.

        None where there is nothing to prove (a cluster the user owns)."""
        ...

    def shell(self, outputs: Mapping[str, Any]) -> AbstractContextManager[Any]: ...

    def gpu_preflight(self, shell: Any, outputs: Mapping[str, Any]) -> StageResult: ...

    def endpoint(self, outputs: Mapping[str, Any]) -> Endpoint: ...

    def logs(self, shell: Any, outputs: Mapping[str, Any]) -> LineSource: ...

    def alive(self, outputs: Mapping[str, Any]) -> bool: ...

    def machine(self, shell: Any, outputs: Mapping[str, Any]) -> ServingMachine: ...

    def image_id(self, outputs: Mapping[str, Any]) -> str | None:
        """`repo@sha256:...` of the image the engine's container runs, as the provider reports it; None
        where it reports none (RunPod's v2 pod object has no digest field)."""
        ...
