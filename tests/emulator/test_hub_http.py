"""The local hub's routes (infra/emulator/hub_http.py) speak enough of the Hub's protocol for the real
huggingface_hub client: gating, LFS redirects to another origin, ranges, broken downloads, and errors."""

from __future__ import annotations

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
from offline_hf import offline_hf_client

from infra.emulator.hub import FakeHub

REPO = "deepseek-ai/DeepSeek-V4-Pro"
SHARD = "model-00001-of-00002.safetensors"
TOKEN = "hf_test_token_for_the_fake_hub"


@pytest.fixture(autouse=True)
def no_real_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline_hf_client(monkeypatch, tmp_path)


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


def test_missing_repo_revision_and_file_raise_the_clients_errors(hub: FakeHub, tmp_path: Path) -> None:
    api = huggingface_hub.HfApi(endpoint=hub.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("deepseek-ai/no-such-model", token=False)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO, revision="v9", token=False)
    with pytest.raises(EntryNotFoundError):
        huggingface_hub.hf_hub_download(REPO, "nope.bin", endpoint=hub.url, cache_dir=tmp_path, token=False)
