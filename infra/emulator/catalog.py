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
    # CUDA versions the hosts of this type report (REST v2 `cudaVersions`, `gpu.allowedCudaVersions`).
    cuda_versions: tuple[str, ...] = ("12.8", "12.9", "13.0")


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


@dataclass(frozen=True)
class CpuType:
    """A CPU flavor as REST v2 `GET /v2/catalog/cpus` lists it; prices per vCPU-hour."""

    id: str
    name: str
    group: str
    vcpu_min: int
    vcpu_max: int
    ram_gb_per_vcpu: int
    secure_per_vcpu: float
    serverless_per_vcpu: float


CPU_TYPES: dict[str, CpuType] = {
    cpu.id: cpu
    for cpu in (
        CpuType("cpu3c", "Compute-Optimized", "Gen 3", 2, 32, 2, 0.03, 0.04),
        CpuType("cpu3g", "General Purpose", "Gen 3", 2, 32, 4, 0.04, 0.05),
        CpuType("cpu5c", "Compute-Optimized", "Gen 5", 2, 32, 2, 0.04, 0.05),
    )
}
# GraphQL's `instanceId` names a flavor with its size: `<flavor>-<vCPUs>-<GB of RAM>`.
CPU_FLAVORS: dict[str, float] = {
    f"{cpu.id}-{n}-{n * cpu.ram_gb_per_vcpu}": round(n * cpu.secure_per_vcpu, 4)
    for cpu in CPU_TYPES.values()
    for n in (2, 4, 8, 16, 32)
}
DEFAULT_CPU_FLAVOR = "cpu3c-2-4"


def cpu_instance_id(flavor: str, vcpus: int) -> str:
    """REST v2's `cpu: {id, vcpuCount}` as the instance id GraphQL knows."""
    cpu = CPU_TYPES[flavor]
    return f"{cpu.id}-{vcpus}-{vcpus * cpu.ram_gb_per_vcpu}"


# Network volumes: $0.07/GB/month under 1 TB, $0.05 above (RunPod storage pricing).
VOLUME_USD_PER_GB_MONTH = 0.07
VOLUME_USD_PER_GB_MONTH_LARGE = 0.05
VOLUME_LARGE_FROM_GB = 1000
SECONDS_PER_MONTH = 30 * 24 * 3600
MAX_VOLUME_GB = 4096
STANDARD = "STANDARD"
HIGH_PERFORMANCE = "HIGH_PERFORMANCE"
# The sequential read rate a pod sees on a volume of each tier (infra/emulator/volume_pace.py). STANDARD:
# `dd bs=1M` of a 40,861,031,488-byte safetensors file in 172.178 s in a RunPod pod (kohya-ss/musubi-tuner#655,
# 2025-10-17). HIGH_PERFORMANCE: no published measurement; RunPod claims "up to 2x faster" (runpod/docs#429),
# which the emulator does not invent a number from, so it serves the standard figure.
VOLUME_READ_BYTES_PER_S = {STANDARD: 237_318_539.0, HIGH_PERFORMANCE: 237_318_539.0}


@dataclass(frozen=True)
class DataCenter:
    id: str
    name: str
    location: str
    region: str
    # Network volume tiers offered, the default (primary) tier first; empty: no network volumes.
    volume_types: tuple[str, ...]
    compliance: tuple[str, ...] = ()


# The emulator's own choice of which data center offers which tier (RunPod's list changes; the
# REST v2 catalog, `networkVolumeTypes`, is what a client must read): some have both, some one.
DATA_CENTERS: dict[str, DataCenter] = {
    dc.id: dc
    for dc in (
        DataCenter("EU-RO-1", "EU Romania 1", "Romania", "EUROPE", (STANDARD, HIGH_PERFORMANCE), ("GDPR",)),
        DataCenter("EU-SE-1", "EU Sweden 1", "Sweden", "EUROPE", (STANDARD,), ("GDPR",)),
        DataCenter("EUR-IS-1", "EU Iceland 1", "Iceland", "EUROPE", (HIGH_PERFORMANCE, STANDARD), ("GDPR",)),
        DataCenter("US-TX-3", "US Texas 3", "United States", "NORTH_AMERICA", (STANDARD, HIGH_PERFORMANCE)),
        DataCenter("US-KS-2", "US Kansas 2", "United States", "NORTH_AMERICA", (STANDARD,)),
        DataCenter("CA-MTL-1", "CA Montreal 1", "Canada", "NORTH_AMERICA", ()),
    )
}

# ISO 3166-1 alpha-2 codes of the locations above (REST v2 `countryCodes` filter).
COUNTRY_CODES = {"Romania": "RO", "Sweden": "SE", "Iceland": "IS", "United States": "US", "Canada": "CA"}

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


def availability_level(available: int, wanted: int = 1) -> str:
    """REST v2's `AvailabilityLevel` for `available` free GPUs when `wanted` are asked for."""
    if available < max(wanted, 1):
        return "NONE"
    return {"High": "HIGH", "Medium": "MEDIUM"}.get(stock_status(available) or "", "LOW")


def stock_status(available: int) -> str | None:
    """RunPod's coarse stock label for a number of free GPUs."""
    if available <= 0:
        return None
    if available >= 16:
        return "High"
    return "Medium" if available >= 8 else "Low"
