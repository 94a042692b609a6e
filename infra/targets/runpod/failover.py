"""Capacity failover for a GPU pod: try placements in order, never leave a pod nobody recorded.

Every placement uses the request's one unique name. The options are equivalent in the planner's
eyes, so a pod that an earlier, failed attempt left behind is as good as a new one: it is adopted
when found, and when this function raises, every pod with that name is terminated first, so a
single lookup by name covers every attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from infra.errors import AuthError, BalanceError, CapacityError, ConfigError, ProviderError, TeardownError
from infra.targets.runpod.client import Pod, PodRequest

log = logging.getLogger(__name__)


class PodCreator(Protocol):
    """What failover needs from `RunPodClient`."""

    def create_gpu_pod(self, request: PodRequest) -> Pod: ...

    def pods_named(self, name: str) -> list[Pod]: ...

    def terminate_pod(self, pod_id: str) -> None: ...


@dataclass(frozen=True)
class Placement:
    gpu_type_id: str
    data_center_id: str | None = None
    """None: wherever RunPod has stock."""


@dataclass(frozen=True)
class Attempt:
    gpu_type_id: str
    data_center_id: str | None
    error: str | None
    """None when this attempt produced the pod."""
    adopted: bool = False
    """The create failed, but the pod it made was found by name and kept."""


@dataclass(frozen=True)
class FailoverResult:
    pod: Pod
    attempts: list[Attempt]


def create_with_failover(
    client: PodCreator,
    base_request: PodRequest,
    options: list[Placement],
    on_attempt: Callable[[Attempt], None] | None = None,
) -> FailoverResult:
    """Create `base_request` at the first placement with capacity; `on_attempt` hears each attempt's outcome.

    No capacity anywhere raises CapacityError naming every placement tried. Any other failure
    (including Ctrl-C) first adopts a pod the failed create made, or terminates every pod with
    the request's name before the error propagates.
    """
    if not options:
        raise ConfigError(f"pod {base_request.name!r}: no GPU type / data center to try")
    name = base_request.name
    attempts: list[Attempt] = []

    def note(attempt: Attempt) -> None:
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)

    try:
        for option in options:
            request = replace(
                base_request, gpu_type_id=option.gpu_type_id, data_center_id=option.data_center_id
            )
            try:
                pod = client.create_gpu_pod(request)
            except CapacityError as exc:
                log.info("%s; trying the next placement", exc)
                note(Attempt(option.gpu_type_id, option.data_center_id, str(exc)))
                continue
            except (AuthError, BalanceError):
                raise
            except Exception as exc:
                # A 500 or a timeout may come after RunPod made the pod: keep it rather than rent twice.
                found = _live_named(client, name)
                if not found:
                    raise
                pod = found[0]
                log.warning("%s; adopted pod %s that the failed create made", exc, pod.id)
                note(Attempt(option.gpu_type_id, option.data_center_id, str(exc), adopted=True))
            else:
                note(Attempt(option.gpu_type_id, option.data_center_id, None))
            try:
                _terminate_named(client, name, keep=pod.id)
            except ProviderError as err:
                log.warning("could not check for other pods named %s: %s", name, err)
            return FailoverResult(pod, attempts)
        raise CapacityError(_no_capacity_message(base_request.gpu_count, attempts), resource=name)
    except BaseException as exc:
        leftover = _cleanup_after(client, name)
        if leftover is None:
            raise
        if isinstance(exc, Exception):
            raise TeardownError(
                f"{exc}; and a pod named {name!r} may be left running, billed: could not check or terminate "
                f"it ({leftover}); look for it in the RunPod console",
                leftover=[name],
            ) from exc
        exc.add_note(f"a pod named {name!r} may be left running: {leftover}")
        raise


def _live_named(client: PodCreator, name: str) -> list[Pod]:
    """Pods called `name`, or none when RunPod cannot say (the caller's cleanup tries again)."""
    try:
        return client.pods_named(name)
    except ProviderError as err:
        log.warning("could not look for a pod named %s: %s", name, err)
        return []


def _terminate_named(client: PodCreator, name: str, keep: str | None = None) -> None:
    """Terminate every live pod called `name` except `keep`; a second Ctrl-C waits until this is done."""
    interrupted: BaseException | None = None
    for pod in client.pods_named(name):
        if pod.id == keep:
            continue
        try:
            log.warning("terminating pod %s (%s): a failed create left it", pod.id, name)
            client.terminate_pod(pod.id)
        except KeyboardInterrupt as exc:
            interrupted = exc
            client.terminate_pod(pod.id)
    if interrupted is not None:
        raise interrupted


def _cleanup_after(client: PodCreator, name: str) -> str | None:
    """Terminate every pod called `name`; the reason it could not, or None when nothing is left."""
    try:
        _terminate_named(client, name)
    except ProviderError as err:
        log.error("could not clean up pods named %s: %s", name, err)
        return str(err)
    return None


def _no_capacity_message(gpu_count: int, attempts: list[Attempt]) -> str:
    """`no capacity for 4x NVIDIA H200 in US-TX-3, EU-RO-1; also tried 4x NVIDIA H200 NVL in US-TX-3`."""
    tried: dict[str, list[str]] = {}
    for attempt in attempts:
        tried.setdefault(attempt.gpu_type_id, []).append(attempt.data_center_id or "any data center")
    groups = [f"{gpu_count}x {gpu} in {', '.join(dict.fromkeys(places))}" for gpu, places in tried.items()]
    message = f"no capacity for {groups[0]}"
    if len(groups) > 1:
        message += f"; also tried {'; '.join(groups[1:])}"
    return (
        f"{message}. RunPod's stock changes hourly: retry later, or add GPU types (gpuFallbacks) or "
        "data centers (dataCenters) to the stack"
    )
