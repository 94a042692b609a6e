"""Where the engine's compile and JIT caches go: one directory on the weight volume or PVC per configuration.

By default every engine cache lives under the container's home (`~/.cache/vllm`, `~/.cache/flashinfer`,
`~/.tilelang/cache`, `~/.triton/cache`), so every new pod compiles again. Pointing them at the weight
volume lets the second start with the same configuration reuse them. The directory is keyed by what
invalidates compiled kernels:

    <mount>/.v4infra/compile-cache/<engine>-<version>/<gpu>-sm<cc>/<flags digest>/{vllm,deep_gemm,...}

The variables and their subdirectories per engine come from `infra/data/compile_caches.yaml`, read from
the pinned wheels (and checked against them by the tests). The digest covers the engine's argument list
and environment, minus what cannot change a kernel (host, port) and anything secret (never hashed in,
never written anywhere).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.catalog import data_file, load_catalog
from infra.errors import ConfigError
from infra.plan import Plan

ROOT = ".v4infra/compile-cache"
# Options whose value changes nothing a compiler sees (and the API key, which must never be hashed in).
VOLATILE_OPTIONS = ("--host", "--port", "--api-key", "--served-model-name")
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|_KEY$")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
DIGEST_CHARS = 16


@dataclass(frozen=True)
class CachePlacement:
    directory: str
    env: tuple[tuple[str, str], ...]  # (variable, directory) for the engine's environment

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


def cache_variables(engine: str, version: str) -> tuple[str, ...]:
    """Every variable this module sets for the engine (all of them moved to the volume)."""
    return tuple(row["name"] for row in _rows(engine, version))


def _rows(engine: str, version: str) -> list[dict[str, str]]:
    engines = data_file("compile_caches.yaml")["engines"]
    if engine not in engines or version not in engines[engine]["versions"]:
        known = ", ".join(f"{e} {v}" for e, row in engines.items() for v in row["versions"])
        raise ConfigError(
            f"no compile-cache variables recorded for {engine} {version}; recorded: {known} "
            "(infra/data/compile_caches.yaml)"
        )
    rows: list[dict[str, str]] = engines[engine]["env"]
    return rows


def flags_digest(
    argv: Sequence[str], env: Mapping[str, str] | None = None, engine: str = "", version: str = ""
) -> str:
    """A digest of what can change a compiled kernel: the argument list and the environment, without
    volatile options, secrets and the cache variables themselves."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in VOLATILE_OPTIONS:
            skip = "=" not in arg
            continue
        kept.append(arg)
    moved = set(cache_variables(engine, version)) if engine else set()
    environ = {k: v for k, v in (env or {}).items() if not SECRET_ENV.search(k) and k not in moved}
    blob = json.dumps({"argv": kept, "env": dict(sorted(environ.items()))}, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "unknown"


def placement(
    engine: str,
    version: str,
    *,
    gpu: str,
    compute_capability: str,
    digest: str,
    mount: str,
    root: str = ROOT,
) -> CachePlacement:
    """The cache directory for this configuration and the engine variables that point there (`root`: the
    directory under the mount that holds every cache; "" where the mount is that directory already)."""
    if not SAFE_PATH.match(mount) or ".." in mount.split("/"):
        raise ConfigError(
            f"cache mount path '{mount}' is not a plain absolute path; valid: letters, digits, '.', '_', '-' "
            "and '/', e.g. /workspace"
        )
    if not re.fullmatch(r"[0-9a-f]{16,64}", digest):
        raise ValueError(f"flags digest must be hex from flags_digest(), got {digest!r}")
    cc = compute_capability.replace(".", "")
    if not cc.isdigit():
        raise ValueError(f"compute capability must look like 9.0, got {compute_capability!r}")
    parts = [
        mount.rstrip("/"),
        root,
        f"{engine}-{_slug(version)}",
        f"{_slug(gpu)}-sm{cc}",
        digest[:DIGEST_CHARS],
    ]
    directory = "/".join(p for p in parts if p)
    env = tuple((row["name"], f"{directory}/{row['subdir']}") for row in _rows(engine, version))
    return CachePlacement(directory, env)


def plan_env(plan: Plan, *, mount: str, root: str = ROOT) -> dict[str, str]:
    """The cache variables for the plan's engine under `mount`; {} where its version's are not recorded."""
    start = plan.start
    if start is None or not start.compile_cache_known:
        return {}
    gpu = load_catalog().gpu(plan.gpu)
    return placement(
        plan.engine.name,
        plan.engine.version,
        gpu=gpu.key,
        compute_capability=gpu.compute_capability,
        digest=start.compile_cache_digest,
        mount=mount,
        root=root,
    ).env_dict()
