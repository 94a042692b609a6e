"""The JSON bodies of the local hub's API, shaped as the Hub sends them to `huggingface_hub` 2.4.0:
a repo's info (`/api/{models|datasets}/{repo}[/revision/{rev}]`) and its tree listing (`.../tree/{rev}`)."""

from __future__ import annotations

import contextlib
import hashlib
import json

from infra.emulator.hub_repo import HubFile, HubRepo, git_blob_id


def repo_info(repo: HubRepo, sha: str, blobs: bool, gated: bool) -> dict[str, object]:
    """A model's or dataset's info at a commit; `blobs` adds each file's size, blob id and LFS sha256."""
    files = repo.commits[sha]
    siblings: list[dict[str, object]] = []
    for hub_file in files.values():
        sibling: dict[str, object] = {"rfilename": hub_file.path}
        if blobs:
            sibling["size"] = len(hub_file.data)
            sibling["blobId"] = hub_file.blob_id
            if hub_file.lfs:
                sibling["lfs"] = {
                    "size": len(hub_file.data),
                    "sha256": hub_file.sha256,
                    "pointerSize": hub_file.pointer_size,
                }
        siblings.append(sibling)
    info: dict[str, object] = {
        "_id": hashlib.md5(repo.key.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": sha,
        "lastModified": "2026-04-24T00:00:00.000Z",
        "private": False,
        "gated": "manual" if gated else False,
        "disabled": False,
        "siblings": siblings,
    }
    if repo.repo_type == "model":
        info.update(modelId=repo.repo_id, library_name="transformers", tags=["transformers", "safetensors"])
    else:
        info["tags"] = ["format:parquet", "modality:text", "library:datasets"]
    config = files.get("config.json")
    if config is not None:
        with contextlib.suppress(ValueError):
            info["config"] = json.loads(config.data)
    return info


def tree(files: dict[str, HubFile], prefix: str, recursive: bool) -> list[dict[str, object]] | None:
    """Tree entries under `prefix` as the Hub lists them; None when the folder does not exist."""
    base = f"{prefix}/" if prefix else ""
    below = [f for path, f in files.items() if path.startswith(base)]
    if prefix and not below:
        return None
    entries: dict[str, dict[str, object]] = {}
    for hub_file in below:
        rel_parts = hub_file.path[len(base) :].split("/")
        for depth in range(1, len(rel_parts)):
            folder = base + "/".join(rel_parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(
                    folder, {"type": "directory", "oid": git_blob_id(folder.encode()), "path": folder}
                )
            if not recursive:
                break
        if recursive or len(rel_parts) == 1:
            entries[hub_file.path] = _tree_file(hub_file)
    return [entries[path] for path in sorted(entries)]


def _tree_file(hub_file: HubFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "type": "file",
        "oid": hub_file.blob_id,
        "size": len(hub_file.data),
        "path": hub_file.path,
    }
    if hub_file.lfs:
        entry["lfs"] = {
            "oid": hub_file.sha256,
            "size": len(hub_file.data),
            "pointerSize": hub_file.pointer_size,
        }
    return entry
