"""What the local hub serves and records: its repos, the faults set on their files, and the counters tests read.

Thread-safe: the HTTP handler's threads read and count through the methods at the bottom while a test adds
repos or breaks files.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from infra.emulator.hub_checkpoint import fake_checkpoint_files
from infra.emulator.hub_gsm8k import gsm8k_files
from infra.emulator.hub_repo import HubFile, HubRepo, RepoType, repo_key

BreakMode = Literal["truncate", "corrupt"]


@dataclass
class _Fault:
    mode: BreakMode
    times: int


class HubContent:
    """The repos registered with `add_repo`, gated by `token` and served at the given throughput.

    `token`: when set, every model repo is gated: requests without `Authorization: Bearer <token>` get 401
    and a wrong token gets 403, both with `X-Error-Code: GatedRepo` as the Hub sends.
    `throttle_bytes_per_second` / `time_scale`: serving a file takes (declared size / throughput) simulated
    seconds, one real second standing for `time_scale` simulated ones; the declared size is the file's
    `simulated_size` entry, or its real length.
    `cdn_host`: the host LFS downloads are redirected to, another origin than the API's.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        throttle_bytes_per_second: float | None = None,
        time_scale: float = 1.0,
        cdn_host: str = "localhost",
    ) -> None:
        self._token = token
        self._throttle = throttle_bytes_per_second
        self._time_scale = time_scale
        self.cdn_host = cdn_host
        self._repos: dict[str, HubRepo] = {}
        self._faults: dict[tuple[str, str], _Fault] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    # -- content -----------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        revision_sha: str | None = None,
        *,
        branch: str = "main",
        simulated_size: Mapping[str, int] | None = None,
        repo_type: RepoType = "model",
    ) -> str:
        """Add a commit holding `files` and point `branch` at it; returns the commit sha.

        Adding to an existing repo makes a new commit, as a push would; older commits stay downloadable.
        """
        if repo_id.count("/") != 1:
            raise ValueError(f"repo id must be 'org/name', got {repo_id!r}")
        built = {path: HubFile.build(path, data) for path, data in sorted(files.items())}
        if revision_sha is None:
            digest = hashlib.sha1(repo_key(repo_id, repo_type).encode(), usedforsecurity=False)
            for hub_file in built.values():
                digest.update(f"{hub_file.path}\0{hub_file.blob_id}\0".encode())
            revision_sha = digest.hexdigest()
        if len(revision_sha) != 40 or any(c not in "0123456789abcdef" for c in revision_sha):
            raise ValueError(f"revision_sha must be 40 lowercase hex digits, got {revision_sha!r}")
        with self._lock:
            repo = self._repos.setdefault(repo_key(repo_id, repo_type), HubRepo(repo_id, repo_type))
            repo.commits[revision_sha] = built
            repo.refs[branch] = revision_sha
            repo.simulated_size.update(simulated_size or {})
        return revision_sha

    def add_fake_checkpoint(
        self,
        repo_id: str,
        shards: int = 3,
        shard_bytes: int = 4096,
        *,
        revision_sha: str | None = None,
        simulated_shard_bytes: int | None = None,
    ) -> str:
        """Add a tiny DeepSeek-V4-shaped checkpoint (valid safetensors shards); returns the commit sha.

        `simulated_shard_bytes` declares each shard that large for throttled serving.
        """
        files = fake_checkpoint_files(repo_id, shards, shard_bytes)
        simulated = (
            {name: simulated_shard_bytes for name in files if name.endswith(".safetensors")}
            if simulated_shard_bytes is not None
            else None
        )
        return self.add_repo(repo_id, files, revision_sha, simulated_size=simulated)

    def add_gsm8k(self, repo_id: str = "openai/gsm8k", test_rows: int = 60, train_rows: int = 16) -> str:
        """Add a small GSM8K dataset in the real repo's layout (see `gsm8k_files`); returns the commit."""
        return self.add_repo(repo_id, gsm8k_files(test_rows, train_rows), repo_type="dataset")

    def commit(self, repo_id: str, revision: str = "main", repo_type: RepoType = "model") -> str:
        """The commit sha a revision of a repo resolves to."""
        sha = self._repos[repo_key(repo_id, repo_type)].resolve(revision)
        if sha is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return sha

    def files(
        self, repo_id: str, revision: str = "main", repo_type: RepoType = "model"
    ) -> dict[str, HubFile]:
        """The files of a repo at a revision, as served."""
        repo = self._repos[repo_key(repo_id, repo_type)]
        return dict(repo.commits[self.commit(repo_id, revision, repo_type)])

    # -- faults and counters -----------------------------------------------------------------

    def break_file(
        self,
        repo_id: str,
        filename: str,
        mode: BreakMode = "truncate",
        times: int = 1,
        repo_type: RepoType = "model",
    ) -> None:
        """Make the next `times` downloads of a file go wrong.

        `truncate`: announce the full length, send half, close the connection.
        `corrupt`: send the announced number of bytes, all of them wrong.
        """
        if mode not in ("truncate", "corrupt"):
            raise ValueError(f"mode must be 'truncate' or 'corrupt', got {mode!r}")
        with self._lock:
            self._faults[(repo_key(repo_id, repo_type), filename)] = _Fault(mode, times)

    def bytes_served(self, repo_id: str, repo_type: RepoType = "model") -> int:
        """File content bytes sent for a repo so far (API responses and headers not counted)."""
        with self._lock:
            return self._served.get(repo_key(repo_id, repo_type), 0)

    # -- what the HTTP handler reads and counts ------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    def repo(self, key: str) -> HubRepo | None:
        """The repo at a `repo_key` (`org/name` or `datasets/org/name`), if any."""
        return self._repos.get(key)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def take_fault(self, key: str, paths: list[str]) -> BreakMode | None:
        """The fault to apply to this download of one of `paths`, using it up."""
        with self._lock:
            for path in paths:
                fault = self._faults.get((key, path))
                if fault is not None and fault.times > 0:
                    fault.times -= 1
                    return fault.mode
        return None

    def count(self, key: str, n: int) -> None:
        with self._lock:
            self._served[key] = self._served.get(key, 0) + n

    def seconds_to_send(self, repo: HubRepo, hub_file: HubFile, n: int) -> float:
        """Real seconds that sending `n` bytes of the file takes at the configured throughput."""
        if not self._throttle or not hub_file.data:
            return 0.0
        declared = repo.simulated_size.get(hub_file.path, len(hub_file.data))
        return declared * (n / len(hub_file.data)) / self._throttle / self._time_scale
