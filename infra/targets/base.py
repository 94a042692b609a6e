"""The one protocol every deployment target implements; `infra.lifecycle` speaks only to it.

    Target                   what the lifecycle asks of a target after `pulumi up` made its resources
    ├── progress_line()      while `up` runs, how far its slow step got
    ├── billed(stack, ...)   this stack's resources the provider still bills or holds
    ├── remove(billed)       remove one of them (already gone counts as removed)
    └── (CheckTarget)        what the validation checks ask (infra.validate.check_target): the canary's
                             contract check, endpoint, shell, GPU preflight, logs, liveness

Strays and orphans are `billed()` minus what the Pulumi state owns, computed once in the lifecycle.
`Secrets` (the program's secret Outputs) lives here too, so targets never import the program.

In a rehearsal a target sees the stand-ins through `StandIns` only (infra.rehearsal implements it), so
no target imports the rehearsal and the rehearsal imports no target.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

# Endpoint and LineSource are the checks' types; re-exported here, where the targets find them.
from infra.validate.check_target import CheckTarget, LineSource
from infra.validate.check_target import Endpoint as Endpoint
from infra.validate.check_target import ServingMachine as ServingMachine

if TYPE_CHECKING:
    import pulumi

    from infra.config import StackSpec
    from infra.plan import Plan


@dataclass(frozen=True)
class Secrets:
    """Secret inputs of the Pulumi program, each a Pulumi secret Output (or None when unset)."""

    hf_token: pulumi.Output[str] | None
    runpod_api_key: pulumi.Output[str] | None


# Each Credentials field: its key in the stack's secret config (read first), then its environment variable.
SECRET_SOURCES = {"runpod_api_key": ("runpodApiKey", "RUNPOD_API_KEY"), "hf_token": ("hfToken", "HF_TOKEN")}


@dataclass(frozen=True)
class Credentials:
    """The same secrets as plain values for the verbs: stack secret config first, then the environment."""

    runpod_api_key: str | None = None
    hf_token: str | None = None

    @classmethod
    def resolve(cls, stored: Mapping[str, str], env: Mapping[str, str]) -> Credentials:
        """Each secret from `stored` (the stack's config, keys without the project prefix), else `env`."""
        # Pulumi.yaml declares "" as the unset placeholder: only a real value beats the environment.
        return cls(**{attr: stored.get(key) or env.get(name) for attr, (key, name) in SECRET_SOURCES.items()})

    def values(self) -> list[str]:
        """Every value set, for redaction."""
        return [v for v in (self.runpod_api_key, self.hf_token) if v]

    def __repr__(self) -> str:
        # Never printed, even in a traceback's locals.
        return f"Credentials(runpod_api_key={'set' if self.runpod_api_key else None}, hf_token=...)"


@dataclass(frozen=True)
class Billed:
    """One resource of a stack that the provider holds (and may bill) right now."""

    kind: str
    """What it is in the provider's words: `pod`, `volume`, `Deployment`, `PersistentVolumeClaim`."""
    id: str
    """The id Pulumi's state records for it (how ownership is matched)."""
    name: str
    cache: bool = False
    """The weight cache: kept between runs on purpose, removed only on purge."""

    def label(self) -> str:
        return f"{self.kind} {self.name} ({self.id})"


@dataclass(frozen=True)
class TargetContext:
    """What a target needs to reach its provider for one stack."""

    spec: StackSpec
    plan: Plan
    env: Mapping[str, str]
    """The environment the engine runs with (endpoints, kubeconfig); never holds secrets set in config."""
    credentials: Credentials
    state_dir: Path
    """This stack's private directory (known_hosts, progress files)."""
    stack_config: Mapping[str, str] = field(default_factory=dict)
    """The stack's plain config values of other providers (e.g. `kubernetes:context`); never secrets."""
    rehearsal: StandIns | None = None
    """The running rehearsal (infra.rehearsal) when the stand-ins, not the real service, are the target."""


@dataclass(frozen=True)
class EngineLaunch:
    """An engine a rehearsal runs locally in place of the provider's, as the target read it."""

    argv: tuple[str, ...]
    """The engine's arguments after its program name (the container's command[1:] and args)."""
    env: Mapping[str, str]
    """The container's plain environment (values given by reference, e.g. from a Secret, are not in it)."""
    image: str
    gpu_type: str
    """As the engine's GPUs name themselves: `NVIDIA H200`."""
    gpu_count: int
    port: int
    """The port the engine listens on inside its container."""
    api_key: str

    def __repr__(self) -> str:
        # Never printed, even in a traceback's locals.
        return f"EngineLaunch(image={self.image!r}, gpu={self.gpu_count}x {self.gpu_type}, api_key=[secret])"


class LocalEngine(Protocol):
    """A stand-in engine running on this machine until its context ends."""

    @property
    def url(self) -> str:
        """Its OpenAI-compatible API, base URL without /v1."""
        ...

    def log(self) -> LineSource: ...

    def alive(self) -> bool: ...

    def machine(self) -> ServingMachine:
        """Beside it, as a serving machine: the stand-in's cache and a shell that runs its benchmark client."""
        ...


class LocalEngines(Protocol):
    """Starts stand-in engines on this machine, for stand-in providers that run no containers (kwok)."""

    def run(self, launch: EngineLaunch) -> AbstractContextManager[LocalEngine]: ...


class StandIns(Protocol):
    """A running rehearsal as a target sees it: stand-ins answer in place of the real service."""

    @property
    def local_engines(self) -> LocalEngines | None:
        """Where the stand-in provider runs no containers, the engines run here; None where it runs its own."""
        ...

    def measure_claim(self, job_command: str, probe_source: str) -> str | None:
        """Where no container ran the download Job, its read-rate probe run here (what it printed)."""
        ...


class Target(CheckTarget, Protocol):
    """A deployment target as the lifecycle sees it (see the module docstring)."""

    provider: str
    """Where the resources live, in user messages: `RunPod`, `the cluster (context kind-x)`."""
    up_steps: str
    """What `pulumi up` does on this target, in a few words for the progress line."""

    def progress_line(self) -> str | None:
        """While `up` runs: the progress of its slow step (e.g. bytes of a weight download), if known."""
        ...

    def billed(self, stack: str, include_cache: bool) -> list[Billed]: ...

    def remove(self, item: Billed) -> None: ...

    def read_rates(self, outputs: Mapping[str, Any]) -> tuple[str, ...]:
        """The read-rate probe records this deploy measured (pre-fill pod or download Job); () if none."""
        ...

    def run_cost(self, outputs: Mapping[str, Any], since: datetime) -> tuple[float, str] | None:
        """What the provider billed this run since `since` (USD, and where the figure comes from); None
        where it keeps no bill or did not answer, and the report then counts uptime x rate."""
        ...
