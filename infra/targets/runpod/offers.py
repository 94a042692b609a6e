"""What RunPod rents, as REST v2's catalog shows it: GPU types with prices, per-data-center stock and
host CUDA versions (`GET /v2/catalog/gpus`), CPU flavours (`/v2/catalog/cpus`) and data centers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _stock(item: Mapping[str, Any]) -> dict[str, str]:
    return {str(dc["id"]): str(dc.get("availability") or "NONE") for dc in item.get("dataCenters") or []}


@dataclass(frozen=True)
class GpuOffer:
    """One GPU type from `GET /v2/catalog/gpus`, with stock when it was asked for."""

    id: str
    name: str
    memory_gb: int
    secure_price: float | None
    community_price: float | None
    max_count: int
    """The most GPUs of this type one secure-cloud pod can have."""
    availability: str | None = None
    """NONE, LOW, MEDIUM or HIGH overall; None when stock was not asked for."""
    stock: Mapping[str, str] = field(default_factory=dict)
    """Data center id -> availability level, for the data centers that offer this GPU."""
    cuda_versions: tuple[str, ...] = ()
    """The CUDA versions its hosts report (`cudaVersions`, with stock asked for); empty: not listed."""

    def in_stock(self, data_center_id: str) -> bool:
        return self.stock.get(data_center_id, "NONE") != "NONE"

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> GpuOffer:
        price = item.get("price") or {}
        max_count = item.get("maxCount") or {}

        def number(value: object) -> float | None:
            return float(value) if isinstance(value, int | float) else None

        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            memory_gb=int(item.get("memory") or 0),
            secure_price=number(price.get("secure")),
            community_price=number(price.get("community")),
            max_count=int(max_count.get("secure") or 0),
            availability=item.get("availability"),
            stock=_stock(item),
            cuda_versions=tuple(
                str(c["version"]) for c in item.get("cudaVersions") or [] if c.get("version")
            ),
        )


@dataclass(frozen=True)
class CpuFlavor:
    """One CPU flavour from `GET /v2/catalog/cpus`, with the data centers that have it in stock."""

    id: str
    min_vcpus: int
    usd_per_vcpu_hour: float
    stock: Mapping[str, str] = field(default_factory=dict)

    @property
    def smallest_vcpus(self) -> int:
        """The fewest vCPUs a pod may ask for: at least 2 and a power of two (CreateCpuConfig)."""
        count = 2
        while count < self.min_vcpus:
            count *= 2
        return count

    @property
    def cheapest_usd_per_hour(self) -> float:
        return self.usd_per_vcpu_hour * self.smallest_vcpus

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> CpuFlavor:
        return cls(
            id=str(item["id"]),
            min_vcpus=int((item.get("vcpu") or {}).get("min") or 2),
            usd_per_vcpu_hour=float((item.get("price") or {}).get("securePerVcpu") or 0.0),
            stock=_stock(item),
        )


@dataclass(frozen=True)
class DataCenter:
    id: str
    name: str
    volume_types: tuple[str, ...]
    """Network volume tiers offered here (STANDARD, HIGH_PERFORMANCE); empty: none."""

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> DataCenter:
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            volume_types=tuple(str(t) for t in item.get("networkVolumeTypes") or []),
        )
