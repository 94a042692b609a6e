"""Live prices and stock for `plan`: with a RunPod key, the account's own `GET /v2/catalog/gpus` against the
data file's price, one sentence per difference. Prices drift (gpus.yaml read them from SkyPilot's catalog on
its `price_date`; RunPod's page said otherwise a month before), so the plan says which it used and what
RunPod quotes now. Never fails a plan: a catalog that cannot be read is a sentence too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.catalog import Catalog
from infra.errors import V4InfraError
from infra.plan import Plan
from infra.targets.runpod.client import RunPodClient

# A quote within a cent of the data file is the same price.
SAME_PRICE_USD = 0.005


@dataclass(frozen=True)
class LivePrices:
    gpu_type_id: str
    usd_per_gpu_hour: float | None  # the secure-cloud list price RunPod quotes now
    stock: dict[str, str]  # data center -> availability, where this GPU is offered
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "gpu_type_id": self.gpu_type_id,
            "usd_per_gpu_hour": self.usd_per_gpu_hour,
            "stock": dict(self.stock),
            "notes": list(self.lines),
        }


def live_prices(
    client: RunPodClient, plan: Plan, catalog: Catalog, data_centers: Sequence[str]
) -> LivePrices:
    """What RunPod quotes for the plan's GPU now, and where that differs from the plan's figures."""
    gpu = catalog.gpu(plan.gpu)
    try:
        offers = client.gpu_catalog(plan.gpu_count)
    except V4InfraError as err:
        return LivePrices(
            gpu.runpod_id, None, {}, (f"live prices not read: {err}; the plan's are gpus.yaml's",)
        )
    offer = next((o for o in offers if o.id == gpu.runpod_id), None)
    if offer is None:
        return LivePrices(gpu.runpod_id, None, {}, (f"RunPod's catalog does not list {gpu.runpod_id} now",))
    lines: list[str] = []
    planned = plan.cost.usd_per_gpu_hour
    live = offer.secure_price
    if live is None:
        lines.append(f"RunPod quotes no secure-cloud price for {gpu.runpod_id} now")
    elif planned is None or abs(live - planned) > SAME_PRICE_USD:
        was = "no price" if planned is None else f"${planned:.2f}/GPU-h (read {plan.cost.price_date})"
        total = live * plan.total_gpus
        lines.append(
            f"RunPod quotes ${live:.2f}/GPU-h for {gpu.runpod_id} now, the plan used {was}: "
            f"${total:,.2f}/hour for {plan.total_gpus} GPUs (set gpuPriceUsd: {live:.2f} to plan with it)"
        )
    else:
        lines.append(f"RunPod quotes ${live:.2f}/GPU-h for {gpu.runpod_id} now, as the plan")
    wanted = list(data_centers) or sorted(offer.stock)
    stocked = [dc for dc in wanted if offer.in_stock(dc)]
    if stocked:
        lines.append(
            f"in stock for {plan.gpu_count} GPUs: " + ", ".join(f"{dc} ({offer.stock[dc]})" for dc in stocked)
        )
    else:
        where = ", ".join(wanted) or "any data center"
        lines.append(f"no stock for {plan.gpu_count}x {gpu.runpod_id} in {where} now")
    return LivePrices(gpu.runpod_id, live, dict(offer.stock), tuple(lines))
