"""What the emulated RunPod sells: GPU types with prices, CPU flavors, data centers with stock.

The emulator's own table, not `infra.catalog`: it stands in for the market, so a planner mistake
(a GPU id RunPod does not know, a data center without stock) shows up as RunPod would show it.
Prices from shared/reference/runpod.md (SkyPilot's runpod vms.csv snapshot); community and
spot prices where that snapshot had none are the emulator's own round numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuType:
    """One RunPod GPU type as `gpuTypes` reports it; prices in USD per GPU-hour, None where not sold."""

    id: str
    display_name: str
    memory_in_gb: int
    secure_price: float | None
    community_price: float | None
    secure_spot_price: float | None
    community_spot_price: float | None
    max_gpu_count: int = 8
    manufacturer: str = "Nvidia"


GPU_TYPES: dict[str, GpuType] = {
    gpu.id: gpu
    for gpu in (
        GpuType("NVIDIA H200", "H200 SXM", 141, 3.59, 3.39, 2.29, 2.19),
        GpuType("NVIDIA H200 NVL", "H200 NVL", 143, None, None, None, None),
        GpuType("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.69, 2.39, 1.75, 1.65),
        GpuType("NVIDIA H100 PCIe", "H100 PCIe", 80, 2.39, 1.99, 1.25, 1.15),
        GpuType("NVIDIA H100 NVL", "H100 NVL", 94, 3.07, 2.79, 1.65, 1.55),
        GpuType("NVIDIA A100 80GB PCIe", "A100 PCIe", 80, 1.64, 1.19, 0.82, 0.60),
        GpuType("NVIDIA A100-SXM4-80GB", "A100 SXM", 80, None, None, None, None),
        GpuType("NVIDIA RTX A6000", "RTX A6000", 48, 0.49, 0.33, 0.25, 0.17),
    )
}

# CPU pods: RunPod's `instanceId` flavors; one price per pod-hour.
CPU_FLAVORS: dict[str, float] = {"cpu3c-2-4": 0.06, "cpu3g-2-8": 0.08, "cpu5c-4-8": 0.16}
DEFAULT_CPU_FLAVOR = "cpu3c-2-4"

# Network volumes: $0.07/GB/month under 1 TB, $0.05 above (RunPod storage pricing).
VOLUME_USD_PER_GB_MONTH = 0.07
VOLUME_USD_PER_GB_MONTH_LARGE = 0.05
VOLUME_LARGE_FROM_GB = 1000
SECONDS_PER_MONTH = 30 * 24 * 3600
MAX_VOLUME_GB = 4000


@dataclass(frozen=True)
class DataCenter:
    id: str
    name: str
    location: str


DATA_CENTERS: dict[str, DataCenter] = {
    dc.id: dc
    for dc in (
        DataCenter("EU-RO-1", "EU-RO-1", "Romania"),
        DataCenter("EU-SE-1", "EU-SE-1", "Sweden"),
        DataCenter("EUR-IS-1", "EUR-IS-1", "Iceland"),
        DataCenter("US-TX-3", "US-TX-3", "United States"),
        DataCenter("US-KS-2", "US-KS-2", "United States"),
        DataCenter("CA-MTL-1", "CA-MTL-1", "Canada"),
    )
}

# GPUs free per data center and GPU type when the emulator starts (a snapshot; RunPod's moves hourly).
DEFAULT_STOCK: dict[str, dict[str, int]] = {
    "EU-RO-1": {"NVIDIA H200": 16, "NVIDIA H100 80GB HBM3": 8, "NVIDIA RTX A6000": 4},
    "EU-SE-1": {"NVIDIA H100 80GB HBM3": 16, "NVIDIA H100 PCIe": 8},
    "EUR-IS-1": {"NVIDIA H200": 8, "NVIDIA H100 NVL": 8},
    "US-TX-3": {"NVIDIA H100 80GB HBM3": 16, "NVIDIA H200": 8, "NVIDIA A100 80GB PCIe": 8},
    "US-KS-2": {"NVIDIA A100 80GB PCIe": 8, "NVIDIA RTX A6000": 8},
    "CA-MTL-1": {"NVIDIA H100 PCIe": 4},
}


def volume_usd_per_second(size_gb: int) -> float:
    rate = VOLUME_USD_PER_GB_MONTH_LARGE if size_gb >= VOLUME_LARGE_FROM_GB else VOLUME_USD_PER_GB_MONTH
    return size_gb * rate / SECONDS_PER_MONTH


def stock_status(available: int) -> str | None:
    """RunPod's coarse stock label for a number of free GPUs."""
    if available <= 0:
        return None
    if available >= 16:
        return "High"
    return "Medium" if available >= 8 else "Low"
