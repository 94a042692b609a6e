"""A repo on the local Hugging Face hub: its commits, its refs, and each file with the ids the Hub reports.

Regular files are identified by their git blob id, LFS files by their content's sha256 (and the blob id of
their pointer file), as the Hub's API and `huggingface_hub` 2.4.0's downloads expect.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from typing import Literal

RepoType = Literal["model", "dataset"]

# Patterns the Hub's default .gitattributes stores in LFS; anything this big or bigger is LFS too.
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.model", "*.parquet")
LFS_MIN_BYTES = 10 * 1024 * 1024


def git_blob_id(data: bytes) -> str:
    """The git object id (sha1) of a file's content, which the Hub uses as ETag for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_gitattributes() -> bytes:
    """The .gitattributes a repo made on the Hub starts with: every LFS pattern tracked by git-lfs."""
    return "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()


@dataclass(frozen=True)
class HubFile:
    """One file of a commit, with the ids the Hub reports for it."""

    path: str
    data: bytes
    lfs: bool
    sha256: str
    # Git id of the content (regular file) or of the LFS pointer file (LFS file), as the Hub reports it.
    blob_id: str
    pointer_size: int

    @classmethod
    def build(cls, path: str, data: bytes) -> HubFile:
        sha256 = hashlib.sha256(data).hexdigest()
        lfs = len(data) >= LFS_MIN_BYTES or any(fnmatch.fnmatch(path, p) for p in LFS_PATTERNS)
        if not lfs:
            return cls(path, data, False, sha256, git_blob_id(data), 0)
        pointer = (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        )
        return cls(path, data, True, sha256, git_blob_id(pointer), len(pointer))

    @property
    def etag(self) -> str:
        """What the client stores the blob under: sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.blob_id


def repo_key(repo_id: str, repo_type: RepoType) -> str:
    """Models and datasets live in separate namespaces on the Hub, as in its URLs."""
    return repo_id if repo_type == "model" else f"datasets/{repo_id}"


@dataclass
class HubRepo:
    """A repo's commits (sha -> files), its branches, and the sizes some files are declared to have."""

    repo_id: str
    repo_type: RepoType = "model"
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    simulated_size: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return repo_key(self.repo_id, self.repo_type)

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)
