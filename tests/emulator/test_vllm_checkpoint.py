"""Where the stand-in vLLM finds a checkpoint (infra/emulator/vllm_checkpoint.py): huggingface_hub's cache layout."""

from __future__ import annotations

import json
from pathlib import Path

from infra.emulator.vllm_checkpoint import missing_shards, snapshot_dir


def _snapshot(cache: Path, commit: str, shards: list[str], present: list[str]) -> Path:
    repo = cache / "models--org--name"
    folder = repo / "snapshots" / commit
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    weight_map = {f"layer.{index}": shard for index, shard in enumerate(shards)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for name in present:
        (folder / name).write_bytes(b"")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return folder


def test_the_ref_names_the_snapshot_and_an_uncached_repo_has_none(tmp_path: Path) -> None:
    folder = _snapshot(tmp_path, "abc123", ["a.safetensors"], ["a.safetensors"])

    assert snapshot_dir(tmp_path, "org/name", None) == folder
    assert snapshot_dir(tmp_path, "org/other", None) is None


def test_shards_the_index_names_but_the_disk_lacks_are_reported(tmp_path: Path) -> None:
    folder = _snapshot(
        tmp_path, "abc123", ["a.safetensors", "b.safetensors", "a.safetensors"], ["a.safetensors"]
    )

    assert missing_shards(folder) == (["b.safetensors"], 2)
