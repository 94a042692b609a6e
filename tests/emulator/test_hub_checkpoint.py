"""The local hub's tiny checkpoint (infra/emulator/hub_checkpoint.py): a layout a loader can read."""

from __future__ import annotations

import json

from infra.emulator.hub import fake_checkpoint_files

REPO = "deepseek-ai/DeepSeek-V4-Pro"


def test_fake_checkpoint_is_a_loadable_layout() -> None:
    files = fake_checkpoint_files(REPO, shards=3, shard_bytes=2000)

    config = json.loads(files["config.json"])
    index = json.loads(files["model.safetensors.index.json"])
    assert config["architectures"] == ["DeepseekV4ForCausalLM"]
    shards = sorted(n for n in files if n.endswith(".safetensors"))
    assert sorted(set(index["weight_map"].values())) == shards
    for name in shards:
        blob = files[name]
        header_len = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + header_len])
        (tensor,) = (v for k, v in header.items() if k != "__metadata__")
        assert len(blob) == 2000 and tensor["data_offsets"][1] == len(blob) - 8 - header_len
    assert fake_checkpoint_files(REPO, 3, 2000) == files
    assert fake_checkpoint_files("other/model", 3, 2000)[shards[0]] != files[shards[0]]
