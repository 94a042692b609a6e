"""Which hosts can run an engine image: the CUDA versions RunPod may place it on, and the driver label a
Kubernetes pool selects by.

An image's CUDA version and minimum NVIDIA driver are engines.yaml's (the plan's `EngineSpec.cuda` and
`min_driver`); this module holds only the rule and the driver-branch table of `infra/data/image_cuda.yaml`.
A RunPod pod lands on any host unless the create names CUDA versions (REST v2 `gpu.allowedCudaVersions`,
matched exactly against what the host reports). An image built for CUDA 13.0 crash-loops on a host whose
driver reports 12.8, billed by the hour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from infra.catalog import data_file
from infra.errors import ConfigError

KEY = "allowedCudaVersions"
VERSION = re.compile(r"\d+\.\d+")  # RunPod's pattern for each entry (CreateGpuConfig.allowedCudaVersions)
# NVIDIA GPU feature discovery's node label: the driver's major version (e.g. "580").
DRIVER_LABEL = "nvidia.com/cuda.driver.major"


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)  # numeric: 12.10 is above 12.9


@dataclass(frozen=True)
class ImageCuda:
    """What the image needs from the host; `cuda=None` for an image the catalog does not know."""

    image: str
    cuda: str | None
    min_driver: int | None

    def runs_on(self, host_cuda: str) -> bool:
        """A host whose driver reports `host_cuda` runs the image: same CUDA major or newer (minor-version
        compatibility within a major, image_cuda.yaml); an image of unknown CUDA is not judged."""
        return self.cuda is None or _key(host_cuda)[0] >= _key(self.cuda)[0]

    @property
    def floor(self) -> str | None:
        """The lowest host CUDA version that runs the image (the first of its major)."""
        return None if self.cuda is None else f"{_key(self.cuda)[0]}.0"

    def describe(self) -> str:
        if self.cuda is None:
            return f"{self.image}: CUDA unknown, hosts are not constrained"
        return f"{self.image} is built for CUDA {self.cuda} (NVIDIA driver >= {self.min_driver})"


def reported_versions() -> list[str]:
    """The CUDA versions hosts report, one per driver branch (image_cuda.yaml), oldest first."""
    return sorted({str(v) for v in data_file("image_cuda.yaml")["driver_branches"].values()}, key=_key)


def check_allowed(need: ImageCuda, allowed: Sequence[str]) -> None:
    """Refuse an allowedCudaVersions list with an entry the image cannot run on, before anything is rented."""
    for version in allowed:
        if not VERSION.fullmatch(str(version)):
            raise ConfigError(
                f"{KEY} entry '{version}' is not a CUDA version; valid: major.minor such as 12.8"
            )
    bad = [v for v in allowed if not need.runs_on(v)]
    if bad:
        raise ConfigError(
            f"{KEY} {', '.join(bad)} cannot run {need.image} (built for CUDA {need.cuda}, NVIDIA driver >= "
            f"{need.min_driver}; {data_file('image_cuda.yaml')['rule_source']}); valid: {need.floor} or newer"
        )


def fit(need: ImageCuda, offered: Sequence[str]) -> tuple[list[str], str]:
    """The host CUDA versions among `offered` (the catalog's, per GPU type; the driver table's when the
    catalog names none) that run the image, numerically sorted, and one sentence saying why."""
    if need.cuda is None:
        return [], f"{need.describe()}: allowedCudaVersions is not sent"
    pool = [v for v in offered if VERSION.fullmatch(v)] or reported_versions()
    ok = sorted({v for v in pool if need.runs_on(v)}, key=_key)
    return (
        ok,
        f"{need.describe()}: hosts reporting CUDA {need.floor} or newer ({', '.join(ok) or 'none offered'})",
    )


def driver_floor_label(need: ImageCuda) -> tuple[str, int] | None:
    """The node label a Kubernetes pool selects by and the lowest driver major it must show."""
    return None if need.min_driver is None else (DRIVER_LABEL, need.min_driver)
