"""Choose how the engine reads its weights, from the kind of storage, the rates, the RAM and the version.

The options come from `infra/data/load_options.yaml`, which holds only what each pinned engine version's
parser defines (checked against the wheels by the tests). The rules, each stated in the chosen path's
reason so the plan can show it:

- Local disk: no flags. Memory-mapped loading is what vLLM recommends for local storage
  (vllm/config/load.py, "highly efficient for models on local storage").
- Network storage: prefetch. Memory-mapped reads over a network volume run 30-50x slower than whole-file
  reads (Comfy-Org/ComfyUI#2288); prefetch reads whole shards sequentially, split over the ranks, into the
  page cache the loader then reads. Threads per rank are raised until ranks x threads reaches the reader
  count at which the volume's measured rate peaked, within the pod's vCPUs; with only a published
  single-reader figure there is no evidence that more threads help, so the engine's default stays.
- Prefetch needs RAM for the shards in flight (ranks x threads x the largest shard); threads are lowered
  to fit, and with no room for even one shard per rank the path stays memory-mapped and says so.

A user's `loadStrategy` / `loadThreads` win over the rules, after checking that the pinned version
defines them: anything else is a ConfigError naming the key and the valid values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from infra.catalog import data_file
from infra.errors import ConfigError
from infra.read_rates import PUBLISHED, Rate, Storage

DEFAULT = "default"  # the engine's behaviour without any loading flag
STRATEGY_KEY = "loadStrategy"
THREADS_KEY = "loadThreads"
ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang"}


@dataclass(frozen=True)
class LoadRequest:
    """What the stack asked for; None leaves the choice to the rules."""

    strategy: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class LoadPath:
    engine: str
    version: str
    strategy: str  # what the flags select: DEFAULT (no flag), "lazy", "eager" or "prefetch"
    reads_as: str  # what the engine then does here: "lazy", "eager" or "prefetch"
    threads: int | None  # prefetch threads per rank (None unless prefetching)
    flags: tuple[str, ...]  # appended to the engine's command line
    readers: int  # concurrent sequential readers per node while the weights are read
    reason: str


def options(engine: str, version: str) -> dict[str, Any]:
    """The loading options the pinned version defines; ConfigError for a version with none recorded."""
    engines = data_file("load_options.yaml")["engines"]
    versions = engines.get(engine, {})
    if version not in versions:
        known = ", ".join(versions) or "none"
        raise ConfigError(
            f"no weight-loading options recorded for {ENGINE_NAMES.get(engine, engine)} {version}; "
            f"recorded versions: {known} (infra/data/load_options.yaml)"
        )
    row: dict[str, Any] = versions[version]
    return row


def check_request(engine: str, version: str, request: LoadRequest, vcpus: int) -> None:
    """Refuse a strategy the pinned engine does not define, or a thread count it cannot use."""
    opts = options(engine, version)
    name = f"{ENGINE_NAMES.get(engine, engine)} {version}"
    valid = list(opts["strategies"])
    if request.strategy is not None and request.strategy not in valid:
        raise ConfigError(
            f"{STRATEGY_KEY} '{request.strategy}' is not defined by {name}; valid: {', '.join(valid)}"
        )
    if request.threads is None:
        return
    if opts["threads_flag"] is None:
        raise ConfigError(
            f"{THREADS_KEY} {request.threads}: {name} has no prefetch thread option (it prefetches with "
            f"{opts['default_threads']} threads per rank); valid: leave {THREADS_KEY} unset, or use a newer version"
        )
    if not 1 <= request.threads <= vcpus:
        raise ConfigError(
            f"{THREADS_KEY} {request.threads} is out of range; valid: 1 to {vcpus} (the pod's vCPUs)"
        )
    if request.strategy not in (None, "prefetch"):
        raise ConfigError(
            f"{THREADS_KEY} applies to prefetching only, but {STRATEGY_KEY} is '{request.strategy}'; "
            f"valid: {STRATEGY_KEY} prefetch, or leave {THREADS_KEY} unset"
        )


def _flags(opts: dict[str, Any], strategy: str, threads: int | None) -> tuple[str, ...]:
    if strategy == DEFAULT:
        return ()
    flags = list(opts["strategies"][strategy])
    if (
        strategy == "prefetch"
        and threads is not None
        and opts["threads_flag"]
        and threads != opts["default_threads"]
    ):
        flags += [opts["threads_flag"], str(threads)]
    return tuple(flags)


def default_behaviour(
    engine: str, version: str, *, storage: Storage, ram_bytes: int, checkpoint_bytes: int
) -> tuple[str, str]:
    """What the engine does with no loading flag here: ("prefetch" | "lazy", why)."""
    auto = options(engine, version)["auto_prefetch"]
    name = f"{ENGINE_NAMES.get(engine, engine)} {version}"
    if auto is None:
        return "lazy", f"{name} memory-maps the shards unless told otherwise (no auto-prefetch)"
    fits = checkpoint_bytes <= auto["ram_fraction"] * ram_bytes
    if storage.fs_type in auto["fs"] and fits:
        return "prefetch", f"{name} auto-prefetches: {storage.fs_type} and the checkpoint fits in RAM"
    if storage.fs_type in auto["fs"]:
        why = f"the checkpoint does not fit in {auto['ram_fraction']:.0%} of RAM"
    else:
        why = f"it does not detect {storage.fs_type or 'this filesystem'} as NFS/Lustre"
    return "lazy", f"{name} memory-maps the shards: {why}"


def choose(
    engine: str,
    version: str,
    *,
    storage: Storage,
    rate: Rate,
    ram_bytes: int,
    vcpus: int,
    checkpoint_bytes: int,
    largest_shard_bytes: int,
    ranks: int,
    request: LoadRequest | None = None,
) -> LoadPath:
    """The loading flags for this start, with the reason the plan shows."""
    request = request or LoadRequest()
    check_request(engine, version, request, vcpus)
    opts = options(engine, version)
    default_threads = int(opts["default_threads"])
    if request.strategy is not None or request.threads is not None:
        strategy = request.strategy or "prefetch"
        threads = (request.threads or default_threads) if strategy == "prefetch" else None
        return _path(engine, version, opts, strategy, threads, ranks, f"set by {STRATEGY_KEY}/{THREADS_KEY}")
    if storage.kind == "local":
        path = engine_default(
            engine,
            version,
            storage=storage,
            ram_bytes=ram_bytes,
            checkpoint_bytes=checkpoint_bytes,
            ranks=ranks,
        )
        return LoadPath(
            engine,
            version,
            DEFAULT,
            path.reads_as,
            path.threads,
            (),
            path.readers,
            "local disk: no loading flag; memory-mapped reads are efficient on local storage (vllm/config/load.py)",
        )
    # Network storage: prefetch whole shards; size the threads from the measured peak, then fit the RAM.
    threads = default_threads
    why = f"{default_threads} threads per rank (the engine's default)"
    peak = rate.best_readers()
    if (
        opts["threads_flag"]
        and rate.basis != PUBLISHED
        and peak is not None
        and peak > ranks * default_threads
    ):
        wanted = math.ceil(peak / ranks)
        threads = max(default_threads, min(wanted, vcpus // ranks))
        why = f"{threads} threads per rank: {ranks} ranks x {threads} reach the {peak} readers at which the volume peaked"
        if threads < wanted:
            why = f"{threads} threads per rank, capped by {vcpus} vCPUs (the volume peaked at {peak} readers)"
    elif rate.basis == PUBLISHED:
        why += f"; the published rate ({rate.method}) shows nothing about more threads, so none are assumed"
    per_rank_shard = ranks * max(1, largest_shard_bytes)
    if ram_bytes < per_rank_shard:
        return _path(
            engine,
            version,
            opts,
            "lazy",
            None,
            ranks,
            f"network storage, but {ram_bytes / 2**30:.0f} GiB of RAM cannot hold one "
            f"{largest_shard_bytes / 2**30:.1f} GiB shard per rank for prefetching: memory-mapped reads",
        )
    fit = int(ram_bytes // per_rank_shard)
    if fit < threads and opts["threads_flag"]:
        threads = fit
        why = f"{threads} threads per rank: RAM holds {fit} shard(s) in flight per rank"
    elif fit < threads:
        why += (
            f"; RAM holds only {fit} shard(s) in flight per rank, and this version cannot lower its threads"
        )
    reason = (
        "network storage: prefetch reads whole shards sequentially into the page cache (memory-mapped reads "
        f"are 30-50x slower there, Comfy-Org/ComfyUI#2288); {why}"
    )
    return _path(engine, version, opts, "prefetch", threads, ranks, reason)


def _path(
    engine: str,
    version: str,
    opts: dict[str, Any],
    strategy: str,
    threads: int | None,
    ranks: int,
    reason: str,
) -> LoadPath:
    readers = ranks * threads if strategy == "prefetch" and threads else ranks
    return LoadPath(
        engine, version, strategy, strategy, threads, _flags(opts, strategy, threads), readers, reason
    )


def engine_default(
    engine: str, version: str, *, storage: Storage, ram_bytes: int, checkpoint_bytes: int, ranks: int
) -> LoadPath:
    """The path with no loading flags, for comparing against the chosen one."""
    strategy, why = default_behaviour(
        engine, version, storage=storage, ram_bytes=ram_bytes, checkpoint_bytes=checkpoint_bytes
    )
    threads = int(options(engine, version)["default_threads"]) if strategy == "prefetch" else None
    readers = ranks * threads if threads else ranks
    return LoadPath(engine, version, DEFAULT, strategy, threads, (), readers, why)
