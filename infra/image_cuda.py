"""Which host CUDA versions can run an engine image, and a check of the `allowedCudaVersions` a stack sets.

A RunPod pod lands on any host unless the create names CUDA versions (REST v2 `gpu.allowedCudaVersions`,
matched exactly against the host's reported CUDA). An image built for CUDA 13.0 crash-loops on a host
whose driver only reaches 12.8, billed by the hour. The image -> CUDA table is `infra/data/image_cuda.yaml`
(with sources); a tag it does not hold is not checked, and `fit()` says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from infra.data_file import load
from infra.errors import ConfigError

KEY = "allowedCudaVersions"
VERSION = re.compile(r"^\d+\.\d+$")  # RunPod's pattern for each entry (CreateGpuConfig.allowedCudaVersions)


@dataclass(frozen=True)
class ImageCuda:
    image: str
    tag: str
    cuda: str | None  # None: no sourced CUDA version for this tag
    min_driver_major: int | None
    source: str


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)  # numeric: 12.10 is above 12.9


def image_cuda(image: str, tag: str) -> ImageCuda:
    row = load("image_cuda.yaml")["images"].get(image, {}).get(tag)
    if row is None:
        return ImageCuda(image, tag, None, None, "no sourced CUDA version for this tag")
    return ImageCuda(image, tag, str(row["cuda"]), row.get("min_driver_major"), str(row["source"]))


def runs_on(image: ImageCuda, host_cuda: str) -> bool:
    """Whether a host reporting `host_cuda` can run the image (unknown images: assumed yes)."""
    return image.cuda is None or _key(host_cuda) >= _key(image.cuda)


def check_allowed(image: str, tag: str, allowed: Sequence[str]) -> None:
    """Refuse an allowedCudaVersions list with an entry the image cannot run on, before anything is rented."""
    info = image_cuda(image, tag)
    for version in allowed:
        if not VERSION.match(str(version)):
            raise ConfigError(
                f"{KEY} entry '{version}' is not a CUDA version; valid: major.minor such as 12.8"
            )
    if info.cuda is None:
        return
    bad = [v for v in allowed if not runs_on(info, v)]
    if bad:
        driver = f", NVIDIA driver >= {info.min_driver_major}" if info.min_driver_major else ""
        raise ConfigError(
            f"{KEY} {', '.join(bad)} cannot run {image}:{tag} (built for CUDA {info.cuda}{driver}; "
            f"{info.source}); valid: {info.cuda} or newer"
        )


def fit(image: str, tag: str, offered: Sequence[str]) -> tuple[list[str], str]:
    """The host CUDA versions among `offered` (the catalog's, per GPU type) that run the image, and why."""
    info = image_cuda(image, tag)
    if info.cuda is None:
        return [], f"{image}:{tag} has no sourced CUDA version: hosts are not constrained"
    ok = sorted((v for v in offered if VERSION.match(v) and runs_on(info, v)), key=_key)
    return (
        ok,
        f"{image}:{tag} is built for CUDA {info.cuda} ({info.source}): hosts with CUDA {info.cuda} or newer",
    )
