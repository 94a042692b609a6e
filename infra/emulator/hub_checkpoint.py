"""A tiny DeepSeek-V4-shaped checkpoint for the local hub: valid safetensors shards, their index, a config
and a tokenizer, in the file layout of `deepseek-ai/DeepSeek-V4-*` on the Hub."""

from __future__ import annotations

import hashlib
import json

from infra.emulator.hub_repo import lfs_gitattributes


def fake_checkpoint_files(repo_id: str, shards: int = 3, shard_bytes: int = 4096) -> dict[str, bytes]:
    """The files of a tiny DeepSeek-V4-shaped checkpoint; shard bytes are deterministic per repo and index."""
    if shards < 1:
        raise ValueError("a checkpoint needs at least one shard")
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    for index in range(1, shards + 1):
        name = f"model-{index:05d}-of-{shards:05d}.safetensors"
        tensor = f"model.layers.{index - 1}.ffn.experts.weight"
        files[name] = _safetensors_shard(tensor, shard_bytes, seed=f"{repo_id}:{index}")
        weight_map[tensor] = name
    config = {
        "architectures": ["DeepseekV4ForCausalLM"],
        "model_type": "deepseek_v4",
        "num_hidden_layers": shards,
        "hidden_size": 4096,
        "max_position_embeddings": 1048576,
        "torch_dtype": "bfloat16",
    }
    index_json = {"metadata": {"total_size": shards * shard_bytes}, "weight_map": weight_map}
    files["config.json"] = _json(config)
    files["model.safetensors.index.json"] = _json(index_json)
    files["generation_config.json"] = _json({"bos_token_id": 0, "eos_token_id": 1})
    files["tokenizer.json"] = _json(
        {"version": "1.0", "model": {"type": "BPE", "vocab": {"<bos>": 0, "<eos>": 1}}}
    )
    files["tokenizer_config.json"] = _json({"bos_token": "<bos>", "eos_token": "<eos>"})
    files[".gitattributes"] = lfs_gitattributes()
    return files


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _safetensors_shard(tensor: str, total_bytes: int, seed: str) -> bytes:
    """A valid safetensors file of exactly `total_bytes`: one uint8 tensor of deterministic bytes."""
    data_len = total_bytes
    for _ in range(4):  # the header holds the data length, so settle the two together
        header = json.dumps(
            {
                "__metadata__": {"format": "pt"},
                tensor: {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]},
            }
        ).encode()
        header += b" " * (-len(header) % 8)
        new_len = total_bytes - 8 - len(header)
        if new_len == data_len:
            break
        data_len = new_len
    if data_len < 1:
        raise ValueError(f"shard_bytes={total_bytes} is too small for a safetensors header")
    shard = len(header).to_bytes(8, "little") + header + hashlib.shake_256(seed.encode()).digest(data_len)
    if len(shard) != total_bytes:
        raise ValueError(f"cannot lay out a safetensors shard of exactly {total_bytes} bytes")
    return shard
