"""The local hub's API bodies (infra/emulator/hub_views.py), as the real huggingface_hub client reads them."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
from offline_hf import offline_hf_client

from infra.emulator.hub import FakeHub


@pytest.fixture(autouse=True)
def no_real_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline_hf_client(monkeypatch, tmp_path)


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
