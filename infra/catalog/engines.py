"""The serving engines as the catalog knows them, from `infra/data/engines.yaml`: each image's tags with
the CUDA and driver they need, the versions without an image, the architectures each version registers,
flag spellings that changed between versions, memory calibration and the GPU families it cannot run V4 on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.errors import CatalogError


@dataclass(frozen=True)
class EngineTag:
    """One image tag: the engine version it ships, the CUDA it is built for and the driver that CUDA needs."""

    tag: str
    version: str
    cuda: str
    min_driver: int
    source: str
    read: str


@dataclass(frozen=True)
class Release:
    """An engine version published without an image tag any source confirms."""

    version: str
    why: str
    read: str


@dataclass(frozen=True)
class Architectures:
    """The model architectures an engine registers from `since` on."""

    since: str
    names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Refused:
    """A spelling one engine version must not be given, and why."""

    args: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Spelling:
    """The arguments that say one thing to an engine from `since` on, and the spellings that version refuses."""

    since: str
    args: tuple[str, ...]
    refused: tuple[Refused, ...]
    source: str
    read: str


@dataclass(frozen=True)
class FlagSpellings:
    """One setting whose command-line spelling changed between engine versions, newest spelling first."""

    key: str
    what: str
    spellings: tuple[Spelling, ...]


@dataclass(frozen=True)
class Calibration:
    """Memory an engine version reserves per GPU before it sizes the KV cache, with the facts behind it."""

    since: str
    extra_reserve_gib: float
    facts: tuple[str, ...]
    read: str


@dataclass(frozen=True)
class Unsupported:
    """A GPU family an engine cannot run V4 on, with the fact and where it was read."""

    fact: str
    sources: tuple[str, ...]
    read: str


@dataclass(frozen=True)
class Engine:
    key: str
    image: str
    tags: tuple[EngineTag, ...]
    base_args: tuple[str, ...]
    env: dict[str, str]
    default_gpu_memory_utilization: float
    default_max_num_seqs: int
    port: int
    tool_args: tuple[str, ...] = ()
    compilation_default: str | None = None
    hopper_pro_args: tuple[str, ...] = ()
    compilation_hopper_pro: str | None = None
    unsupported_families: dict[str, Unsupported] = field(default_factory=dict)
    dp_rpc_port: int | None = None
    master_port: int | None = None
    dist_init_port: int | None = None
    releases_without_image: tuple[Release, ...] = ()
    architectures: tuple[Architectures, ...] = ()
    flags: dict[str, FlagSpellings] = field(default_factory=dict)
    calibration: tuple[Calibration, ...] = ()
    # The MoE kernel the vLLM recipes add on Blackwell for FP8 (fp4-fp8) checkpoints with expert parallel.
    blackwell_fp8_moe_args: tuple[str, ...] = ()


def parse_engine(key: str, row: dict[str, Any], drivers: dict[str, int]) -> Engine:
    def driver(cuda: str) -> int:
        major = cuda.split(".")[0]
        if major not in drivers:
            raise CatalogError(
                f"engines.yaml: {key} names CUDA {cuda}, but cuda_drivers has no CUDA {major}.x row"
            )
        return drivers[major]

    row["tags"] = tuple(
        EngineTag(
            str(t["tag"]),
            str(t["version"]),
            str(t["cuda"]),
            driver(str(t["cuda"])),
            str(t["source"]),
            str(t["read"]),
        )
        for t in row["tags"]
    )
    row["unsupported_families"] = {
        fam: Unsupported(str(u["fact"]), tuple(u["sources"]), str(u["read"]))
        for fam, u in row.get("unsupported_families", {}).items()
    }
    row["releases_without_image"] = tuple(
        Release(str(r["version"]), " ".join(str(r["why"]).split()), str(r["read"]))
        for r in row.get("releases_without_image", ())
    )
    row["architectures"] = tuple(
        Architectures(str(a["from"]), tuple(str(n) for n in a["names"]), str(a["source"]))
        for a in row.get("architectures", ())
    )
    row["flags"] = {
        name: FlagSpellings(
            name,
            str(f["what"]),
            tuple(
                Spelling(
                    str(sp["from"]),
                    tuple(str(a) for a in sp["args"]),
                    tuple(
                        Refused(tuple(str(a) for a in r["args"]), str(r["why"]))
                        for r in sp.get("refused", ())
                    ),
                    str(sp["source"]),
                    str(sp["read"]),
                )
                for sp in f["spellings"]
            ),
        )
        for name, f in row.get("flags", {}).items()
    }
    row["calibration"] = tuple(
        Calibration(
            str(c["from"]), float(c["extra_reserve_gib"]), tuple(str(x) for x in c["facts"]), str(c["read"])
        )
        for c in row.get("calibration", ())
    )
    for name in ("base_args", "tool_args", "hopper_pro_args", "blackwell_fp8_moe_args"):
        if name in row:
            row[name] = tuple(str(a) for a in row[name])
    return Engine(key=key, **row)
