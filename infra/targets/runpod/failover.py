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

from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    ProviderError,
    RefusedError,
    TeardownError,
)
from infra.targets.runpod.types import GpuOffer, Pod, PodRequest

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
    stock: str | None = None
    """What the catalog showed for it (NONE, LOW, MEDIUM, HIGH); None when not read."""
    allowed_cuda_versions: tuple[str, ...] = ()
    """The host CUDA versions of this GPU type that run the image; empty: the request's own."""


def placements_by_stock(
    catalog: list[GpuOffer], gpu_type_ids: list[str], data_center_ids: list[str]
) -> list[Placement]:
    """Every (GPU type, data center) pair in preference order, those the catalog shows in stock first.

    The catalog orders candidates, it reserves nothing (createPod docs): a pair shown as NONE is
    still tried last, since stock moves between the read and the create.
    """
    offers = {offer.id: offer for offer in catalog}
    pairs = [
        Placement(gpu, dc, offers[gpu].stock.get(dc, "NONE") if gpu in offers else "NONE")
        for gpu in gpu_type_ids
        for dc in data_center_ids
    ]
    return sorted(pairs, key=lambda p: p.stock == "NONE")


def stock_elsewhere(
    catalog: list[GpuOffer], gpu_type_ids: list[str], data_center_ids: list[str]
) -> list[str]:
    """`NVIDIA H200 in EU-RO-1 (HIGH)` for acceptable GPU types in stock outside the allowed data centers."""
    found = []
    for offer in catalog:
        if offer.id in gpu_type_ids:
            found += [
                f"{offer.id} in {dc} ({level})"
                for dc, level in sorted(offer.stock.items())
                if level != "NONE" and dc not in data_center_ids
            ]
    return found


@dataclass(frozen=True)
class Attempt:
    gpu_type_id: str
    data_center_id: str | None
    error: str | None
    """None when this attempt produced the pod."""
    adopted: bool = False
    """The create failed, but the pod it made was found by name and kept."""
    stock: str | None = None
    """What the catalog showed for this placement before the create."""
    refused: bool = False
    """RunPod answered 400/403 without naming capacity."""


@dataclass(frozen=True)
class FailoverResult:
    pod: Pod
    attempts: list[Attempt]


def create_with_failover(
    client: PodCreator,
    base_request: PodRequest,
    options: list[Placement],
    on_attempt: Callable[[Attempt], None] | None = None,
    elsewhere: str = "",
) -> FailoverResult:
    """Create `base_request` at the first placement with capacity; `on_attempt` hears each attempt's outcome.

    No capacity anywhere raises CapacityError naming every placement tried. Any other failure
    (including Ctrl-C) first adopts a pod the failed create made, or terminates every pod with
    the request's name before the error propagates. `elsewhere` (what stock exists outside the
    allowed placements, and what moving there costs) ends the no-capacity message.
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
                base_request,
                gpu_type_id=option.gpu_type_id,
                data_center_id=option.data_center_id,
                allowed_cuda_versions=option.allowed_cuda_versions or base_request.allowed_cuda_versions,
            )
            try:
                pod = client.create_gpu_pod(request)
            except CapacityError as exc:
                log.info("%s; trying the next placement", exc)
                note(Attempt(option.gpu_type_id, option.data_center_id, str(exc), stock=option.stock))
                continue
            except RefusedError as exc:
                if exc.status not in (400, 403):
                    raise  # 422: the body breaks the contract, and will on every candidate
                # v2 answers 400 for no capacity and for a broken rule alike; 403 for a pool this account lacks.
                log.info("%s; trying the next placement", exc)
                note(
                    Attempt(
                        option.gpu_type_id, option.data_center_id, str(exc), stock=option.stock, refused=True
                    )
                )
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
                note(
                    Attempt(
                        option.gpu_type_id, option.data_center_id, str(exc), stock=option.stock, adopted=True
                    )
                )
            else:
                note(Attempt(option.gpu_type_id, option.data_center_id, None, stock=option.stock))
            try:
                _terminate_named(client, name, keep=pod.id)
            except ProviderError as err:
                log.warning("could not check for other pods named %s: %s", name, err)
            return FailoverResult(pod, attempts)
        if attempts and all(a.refused for a in attempts):
            # Refused everywhere: read the last detail as a problem with the request (createPod docs).
            raise RefusedError(
                f"RunPod refused pod {name!r} at every placement tried; the last answer: {attempts[-1].error}",
                status=400,
                resource=name,
            )
        raise CapacityError(_no_capacity_message(base_request.gpu_count, attempts, elsewhere), resource=name)
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


def _no_capacity_message(gpu_count: int, attempts: list[Attempt], elsewhere: str = "") -> str:
    """`no capacity for 4x NVIDIA H200 in US-TX-3 (catalog: NONE); also tried 4x NVIDIA H200 NVL in ...`."""
    tried: dict[str, list[str]] = {}
    for attempt in attempts:
        place = attempt.data_center_id or "any data center"
        tried.setdefault(attempt.gpu_type_id, []).append(
            f"{place} (catalog: {attempt.stock})" if attempt.stock else place
        )
    groups = [f"{gpu_count}x {gpu} in {', '.join(dict.fromkeys(places))}" for gpu, places in tried.items()]
    message = f"no capacity for {groups[0]}"
    if len(groups) > 1:
        message += f"; also tried {'; '.join(groups[1:])}"
    return (
        f"{message}. RunPod's stock changes hourly: retry later, or add GPU types (gpuFallbacks) or "
        "data centers (dataCenters) to the stack" + (f". {elsewhere}" if elsewhere else "")
    )
