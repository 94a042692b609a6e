"""A huggingface_hub cache holding a checkpoint's layout (index, config, empty shards), for emulated pods."""

from __future__ import annotations

import json
from pathlib import Path


def hf_cache(root: Path, repo_id: str, shards: int = 4) -> Path:
    """Write `repo_id` in huggingface_hub's cache layout under `root` (a `hub/` dir); returns `root`."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "config.json").write_text(json.dumps({"architectures": ["DeepseekV4ForCausalLM"]}))
    names = [f"model-{index:05d}-of-{shards:05d}.safetensors" for index in range(1, shards + 1)]
    weight_map = {f"model.layers.{index}.weight": name for index, name in enumerate(names)}
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for name in names:
        (snapshot / name).write_bytes(b"")
    return root
