"""The fake hub speaks enough of the Hub's protocol for the real huggingface_hub client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import huggingface_hub
import pytest
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from infra.emulator.hub import FakeHub, fake_checkpoint_files

REPO = "deepseek-ai/DeepSeek-V4-Pro"
SHARD = "model-00001-of-00002.safetensors"
TOKEN = "hf_test_token_for_the_fake_hub"


@pytest.fixture(autouse=True)
def no_real_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_fake_checkpoint(REPO, shards=2, shard_bytes=1024)
        yield server


def test_gated_repo_answers_401_then_403_with_the_hub_error_code() -> None:
    with FakeHub(token=TOKEN) as hub:
        hub.add_fake_checkpoint(REPO, shards=1, shard_bytes=512)
        url = huggingface_hub.hf_hub_url(REPO, "config.json", endpoint=hub.url)

        anonymous = httpx.head(url)
        wrong = httpx.head(url, headers={"Authorization": "Bearer hf_wrong"})
        assert (anonymous.status_code, anonymous.headers["X-Error-Code"]) == (401, "GatedRepo")
        assert (wrong.status_code, wrong.headers["X-Error-Code"]) == (403, "GatedRepo")

        api = huggingface_hub.HfApi(endpoint=hub.url)
        with pytest.raises(GatedRepoError):
            api.model_info(REPO, token=False)
        with pytest.raises(GatedRepoError):
            huggingface_hub.hf_hub_download(REPO, "config.json", endpoint=hub.url, token="hf_wrong")
        assert api.model_info(REPO, token=TOKEN).gated == "manual"


def test_lfs_files_redirect_to_another_origin_with_linked_size_and_etag(hub: FakeHub) -> None:
    shard, config = hub.files(REPO)[SHARD], hub.files(REPO)["config.json"]
    commit = hub.commit(REPO)

    lfs = huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(REPO, SHARD, endpoint=hub.url))
    regular = huggingface_hub.get_hf_file_metadata(
        huggingface_hub.hf_hub_url(REPO, "config.json", endpoint=hub.url)
    )

    assert (lfs.etag, lfs.size, lfs.commit_hash) == (shard.sha256, 1024, commit)
    assert lfs.location.startswith(f"http://localhost:{hub.port}/_cdn/")
    assert (regular.etag, regular.size, regular.commit_hash) == (config.blob_id, len(config.data), commit)
    assert httpx.get(lfs.location).content == shard.data


def test_range_requests_serve_the_asked_bytes(hub: FakeHub) -> None:
    data = hub.files(REPO)[SHARD].data
    location = huggingface_hub.get_hf_file_metadata(
        huggingface_hub.hf_hub_url(REPO, SHARD, endpoint=hub.url)
    ).location

    middle = httpx.get(location, headers={"Range": "bytes=100-199"})
    tail = httpx.get(location, headers={"Range": "bytes=-10"})
    beyond = httpx.get(location, headers={"Range": "bytes=5000-"})

    assert (middle.status_code, middle.content, middle.headers["Content-Range"]) == (
        206,
        data[100:200],
        "bytes 100-199/1024",
    )
    assert tail.content == data[-10:]
    assert beyond.status_code == 416


def test_broken_files_truncate_or_corrupt_the_next_downloads_only(hub: FakeHub) -> None:
    data = hub.files(REPO)["config.json"].data
    url = huggingface_hub.hf_hub_url(REPO, "config.json", endpoint=hub.url)
    hub.break_file(REPO, "config.json", "truncate", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert hub.bytes_served(REPO) == len(data) // 2

    hub.break_file(REPO, "config.json", "corrupt", times=1)
    corrupt = httpx.get(url).content
    assert len(corrupt) == len(data) and corrupt != data
    assert httpx.get(url).content == data


def test_tree_listing_recursive_and_by_folder() -> None:
    with FakeHub() as hub:
        hub.add_repo("org/nested", {"a.json": b"{}", "sub/dir/b.safetensors": b"x" * 64, "sub/c.txt": b"c"})
        api = huggingface_hub.HfApi(endpoint=hub.url)

        everything = {
            e.path: type(e).__name__ for e in api.list_repo_tree("org/nested", recursive=True, token=False)
        }
        top = {e.path for e in api.list_repo_tree("org/nested", token=False)}
        sub = {e.path for e in api.list_repo_tree("org/nested", path_in_repo="sub", token=False)}
        lfs_entry = next(e for e in api.list_repo_tree("org/nested", "sub/dir", token=False))

    assert everything == {
        "a.json": "RepoFile",
        "sub": "RepoFolder",
        "sub/c.txt": "RepoFile",
        "sub/dir": "RepoFolder",
        "sub/dir/b.safetensors": "RepoFile",
    }
    assert top == {"a.json", "sub"}
    assert sub == {"sub/c.txt", "sub/dir"}
    assert lfs_entry.lfs is not None and lfs_entry.lfs.size == 64  # type: ignore[union-attr]


def test_missing_repo_revision_and_file_raise_the_clients_errors(hub: FakeHub, tmp_path: Path) -> None:
    api = huggingface_hub.HfApi(endpoint=hub.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("deepseek-ai/no-such-model", token=False)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO, revision="v9", token=False)
    with pytest.raises(EntryNotFoundError):
        huggingface_hub.hf_hub_download(REPO, "nope.bin", endpoint=hub.url, cache_dir=tmp_path, token=False)


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
