"""Where the stand-in vLLM finds a checkpoint, as vLLM does: a local folder or huggingface_hub's cache
layout (offline or not), which shards the index names but the disk lacks, and the hub's own error lines when
the repository is missing, gated or not cached.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from infra.emulator.models import CHECKPOINTS, CheckpointSpec
from infra.emulator.vllm_launch import Launch
from infra.emulator.vllm_log import api_failed


def hub_cache_dir(args: argparse.Namespace) -> Path:
    if args.download_dir:
        return Path(args.download_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def snapshot_dir(cache: Path, repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot holding config.json, in huggingface_hub's cache layout."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    ref = repo_dir / "refs" / (revision or "main")
    candidates: list[Path] = []
    if ref.is_file():
        candidates.append(repo_dir / "snapshots" / ref.read_text().strip())
    elif revision:
        candidates.append(repo_dir / "snapshots" / revision)
    elif (repo_dir / "snapshots").is_dir():
        candidates.extend(sorted((repo_dir / "snapshots").iterdir()))
    return next((path for path in candidates if (path / "config.json").is_file()), None)


def missing_shards(folder: Path) -> tuple[list[str], int]:
    """Shards named by the index but absent from `folder`, and how many the checkpoint has."""
    index_path = folder / "model.safetensors.index.json"
    if not index_path.is_file():
        present = sorted(path.name for path in folder.glob("*.safetensors"))
        return ([] if present else ["*.safetensors"]), len(present)
    weight_map = json.loads(index_path.read_text()).get("weight_map", {})
    shards = sorted(set(weight_map.values()))
    return [name for name in shards if not (folder / name).exists()], len(shards)


def resolve_checkpoint(launch: Launch) -> tuple[CheckpointSpec, Path | None]:
    """Find the checkpoint's config as vLLM would (hub cache or local folder); fail like vLLM."""
    args = launch.args
    model: str = args.model
    local = Path(model)
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise api_failed(_invalid_repo(model))
        name = local.name.lower()
        spec = next((spec for repo, spec in CHECKPOINTS.items() if repo.split("/")[-1].lower() == name), None)
        if spec is None:
            spec = CheckpointSpec(model, _architecture(local), 0, 1, (0, 0, 0), False, 32768, 4096, 1.0, 0)
        return spec, local
    if launch.fault == "hub401":
        time.sleep(min(launch.load_seconds, 0.3))
        raise api_failed(_gated(model))
    cache = hub_cache_dir(args)
    folder = snapshot_dir(cache, model, args.revision)
    if folder is None and offline():
        raise api_failed(_offline_miss(model))
    spec = CHECKPOINTS.get(model)
    if spec is None:
        raise api_failed(_repo_not_found(model))
    return spec, folder


def _architecture(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text())
        return str((config.get("architectures") or ["LlamaForCausalLM"])[0])
    except (OSError, ValueError):
        return "LlamaForCausalLM"


def _invalid_repo(model: str) -> str:
    return (
        f"ValueError: Invalid repository ID or local directory specified: '{model}'.\n"
        "Please verify the following requirements:\n"
        "1. Provide a valid Hugging Face repository ID.\n"
        "2. Specify a local directory that contains a recognized configuration file.\n"
        "   - For Hugging Face models: ensure the presence of a 'config.json'.\n"
        "   - For Mistral models: ensure the presence of a 'params.json'."
    )


def _offline_miss(model: str) -> str:
    return (
        "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find the requested files in the disk cache "
        "and outgoing traffic has been disabled. To enable hf.co look-ups and downloads online, "
        "set 'HF_HUB_OFFLINE=0' as environment variable.\n\n"
        "The above exception was the direct cause of the following exception:\n\n" + _invalid_repo(model)
    )


def _gated(model: str) -> str:
    return (
        "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6630f1a2-3c1b2e4d5f6a7b8c9d0e1f2a)\n\n"
        f"Cannot access gated repo for url https://huggingface.co/{model}/resolve/main/config.json.\n"
        f"Access to model {model} is restricted. You must have access to it and be authenticated to access it. "
        "Please log in."
    )


def _repo_not_found(model: str) -> str:
    return (
        "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. "
        "(Request ID: Root=1-6630f1a2-0a1b2c3d4e5f60718293a4b5)\n\n"
        f"Repository Not Found for url: https://huggingface.co/api/models/{model}/tree/main?recursive=True&expand=False.\n"
        "Please make sure you specified the correct `repo_id` and `repo_type`.\n"
        "If you are trying to access a private or gated repo, make sure you are authenticated. "
        "For more details, see https://huggingface.co/docs/huggingface_hub/authentication"
    )
