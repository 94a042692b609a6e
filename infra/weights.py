"""The weight cache: download a checkpoint once into a Hugging Face cache, verify it, and mark it complete.

A RunPod network volume or a Kubernetes PVC is filled on a CPU machine with the real `huggingface_hub`
client, in the standard cache layout that vLLM reads with `HF_HOME=<cache_dir>` and `HF_HUB_OFFLINE=1`:

    <cache_dir>/hub/models--<org>--<name>/blobs/, snapshots/<commit>/, refs/<revision>
    <cache_dir>/.v4infra/complete-<org>--<name>.json    written last, only after every file checked out

A dataset the validation needs offline (`openai/gsm8k` for the accuracy stage) is cached beside it the
same way with `--repo-type dataset`: `hub/datasets--<org>--<name>/`, marker `complete-dataset-<org>--<name>.json`.

A later fill compares the hub's file list and sizes with the disk and the marker, and downloads nothing
when they agree.

This module is deliberately ONE file importing only the standard library and `huggingface_hub`, because it
also runs inside pods where this package is not installed:

    python3 - fill --cache-dir /workspace/hf --repo deepseek-ai/DeepSeek-V4-Flash < infra/weights.py
    python3 -m infra.weights check --cache-dir /workspace/hf --repo deepseek-ai/DeepSeek-V4-Flash
    python3 - fill --cache-dir /workspace/hf --repo openai/gsm8k --repo-type dataset < infra/weights.py

The command line prints one JSON object per line (`progress`, then `done` or `error`) and exits 0 or 1;
the token comes from `HF_TOKEN` and is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import huggingface_hub
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

try:
    from infra.errors import WeightCacheError
except ImportError:  # standalone in a pod, where the infra package is not installed

    class WeightCacheError(Exception):  # type: ignore[no-redef]
        """The checkpoint could not be downloaded or verified."""


class WeightAccessError(WeightCacheError):
    """The hub refused the checkpoint (401/403): the HF token is missing or lacks access."""


MARKER_DIR = ".v4infra"
REPO_TYPES = ("model", "dataset")
_MARKER_FORMAT = 1
_HASH_CHUNK = 8 * 1024 * 1024

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes downloaded so far, bytes expected) while a fill downloads."""


@dataclass(frozen=True)
class ManifestFile:
    """One file of a checkpoint as the hub describes it."""

    path: str
    size: int
    # sha256 of the content, which the hub reports for LFS files (the weight shards).
    sha256: str | None = None
    # Git object id; for regular (non-LFS) files it is the content's id and can be checked too.
    blob_id: str | None = None

    @property
    def cache_blob_name(self) -> str | None:
        """The name huggingface_hub gives this file under `blobs/`."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class CheckpointManifest:
    """What a complete copy of a checkpoint at one commit consists of."""

    repo_id: str
    revision: str
    commit_sha: str
    files: tuple[ManifestFile, ...]
    repo_type: str = "model"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, path: str) -> ManifestFile:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)


@dataclass(frozen=True)
class CacheStatus:
    """How a cache directory compares with a manifest."""

    repo_id: str
    commit_sha: str
    snapshot_dir: Path
    missing: tuple[str, ...] = ()
    wrong_size: tuple[str, ...] = ()
    # Filled only by `verify_cache(..., check_hashes=True)`.
    corrupt: tuple[str, ...] = ()
    # refs/<revision> names the commit, so vLLM can resolve the revision offline.
    ref_ok: bool = False
    # The completeness marker exists and lists this commit's files and sizes.
    marker_matches: bool = False

    @property
    def files_ok(self) -> bool:
        return not (self.missing or self.wrong_size or self.corrupt) and self.ref_ok

    @property
    def complete(self) -> bool:
        return self.files_ok and self.marker_matches

    def describe(self) -> str:
        """One line for a user."""
        if self.complete:
            return f"{self.repo_id}@{self.commit_sha[:12]} is complete"
        problems = [
            f"{len(names)} {label} ({_sample(names)})"
            for label, names in (
                ("missing", self.missing),
                ("wrong size", self.wrong_size),
                ("corrupt", self.corrupt),
            )
            if names
        ]
        if not self.ref_ok:
            problems.append("revision ref missing")
        if not self.marker_matches:
            problems.append("no completeness marker for this commit")
        return f"{self.repo_id}@{self.commit_sha[:12]} is incomplete: {'; '.join(problems)}"


@dataclass(frozen=True)
class FillResult:
    """What `fill_cache` did."""

    skipped: bool
    bytes_downloaded: int
    files: tuple[ManifestFile, ...]
    commit_sha: str
    marker_path: Path
    # Files thrown away because their size or hash was wrong, then downloaded again.
    redone: tuple[str, ...] = ()


# -- layout ------------------------------------------------------------------------------------------


def repo_storage_dir(cache_dir: str | Path, repo_id: str, repo_type: str = "model") -> Path:
    """`<cache_dir>/hub/models--<org>--<name>` (or `datasets--`), where huggingface_hub keeps a repo's files."""
    return Path(cache_dir) / "hub" / (f"{repo_type}s--" + repo_id.replace("/", "--"))


def marker_path(cache_dir: str | Path, repo_id: str, repo_type: str = "model") -> Path:
    """The completeness marker of a repo in a cache directory (models keep their original name)."""
    kind = "" if repo_type == "model" else f"{repo_type}-"
    return Path(cache_dir) / MARKER_DIR / f"complete-{kind}{repo_id.replace('/', '--')}.json"


# -- the hub's side ----------------------------------------------------------------------------------


def expected_files(
    repo_id: str,
    revision: str = "main",
    token: str | None = None,
    endpoint: str | None = None,
    repo_type: str = "model",
) -> CheckpointManifest:
    """Ask the hub which files (names, sizes, sha256 of LFS files) make up `repo_id` at `revision`.

    `token=None` sends no token at all, so a stray login on the machine cannot change the outcome.
    `endpoint=None` means huggingface_hub's default (`HF_ENDPOINT`, else huggingface.co).
    """
    api = huggingface_hub.HfApi(endpoint=endpoint)
    with _hub_errors(repo_id, revision, token):
        if repo_type == "dataset":
            info: Any = api.dataset_info(
                repo_id, revision=revision, files_metadata=True, token=token or False
            )
        else:
            info = api.model_info(repo_id, revision=revision, files_metadata=True, token=token or False)
    if not info.sha or info.siblings is None:
        raise WeightCacheError(f"the hub's answer for {repo_id}@{revision} lacks a commit or a file list")
    files = []
    for sibling in info.siblings:
        if sibling.size is None:
            raise WeightCacheError(f"the hub did not report the size of {repo_id}/{sibling.rfilename}")
        sha256 = sibling.lfs.sha256 if sibling.lfs is not None else None
        files.append(ManifestFile(sibling.rfilename, int(sibling.size), sha256, sibling.blob_id))
    ordered = tuple(sorted(files, key=lambda f: f.path))
    return CheckpointManifest(repo_id, revision, info.sha, ordered, repo_type)


@contextlib.contextmanager
def _hub_errors(repo_id: str, revision: str, token: str | None) -> Iterator[None]:
    """Turn the hub's refusals into errors that say what to do; everything else passes through."""
    try:
        yield
    except GatedRepoError as error:
        raise WeightAccessError(_access_message(repo_id, error, token, gated=True)) from None
    except RepositoryNotFoundError as error:
        raise WeightAccessError(_access_message(repo_id, error, token, gated=False)) from None
    except RevisionNotFoundError:
        raise WeightCacheError(f"{repo_id} has no revision {revision!r} on the hub") from None
    except HfHubHTTPError as error:
        if _status(error) in (401, 403):
            raise WeightAccessError(_access_message(repo_id, error, token, gated=False)) from None
        raise


def _status(error: HfHubHTTPError) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _access_message(repo_id: str, error: HfHubHTTPError, token: str | None, gated: bool) -> str:
    status = _status(error) or "?"
    what = "the gated repo" if gated else "the repo (gated, private or missing)"
    if not token:
        return (
            f"the hub refused {repo_id} (HTTP {status}): no HF token was given; set HF_TOKEN to a token "
            f"whose account has been granted access to {what}"
        )
    return (
        f"the hub refused {repo_id} (HTTP {status}): the HF token lacks access to {what}; accept the model's "
        "terms on its hub page with the token's account, or use another token"
    )


# -- the disk's side ---------------------------------------------------------------------------------


def verify_cache(
    cache_dir: str | Path, manifest: CheckpointManifest, *, check_hashes: bool = False, max_workers: int = 4
) -> CacheStatus:
    """Compare the cache under `cache_dir` with `manifest`: presence, sizes, ref, marker; hashes if asked.

    Checking sizes reads no file contents, so it is quick even for a 900 GB checkpoint; `check_hashes`
    reads every byte.
    """
    storage = repo_storage_dir(cache_dir, manifest.repo_id, manifest.repo_type)
    problems = _check_files(storage, manifest, manifest.files, check_hashes, max_workers)
    return CacheStatus(
        repo_id=manifest.repo_id,
        commit_sha=manifest.commit_sha,
        snapshot_dir=storage / "snapshots" / manifest.commit_sha,
        missing=tuple(p for p, why in problems.items() if why == "missing"),
        wrong_size=tuple(p for p, why in problems.items() if why == "wrong size"),
        corrupt=tuple(p for p, why in problems.items() if why == "corrupt"),
        ref_ok=_ref_ok(storage, manifest),
        marker_matches=_marker_matches(cache_dir, manifest),
    )


def _check_files(
    storage: Path, manifest: CheckpointManifest, files: Iterable[ManifestFile], hashes: bool, max_workers: int
) -> dict[str, str]:
    """Problems by path: 'missing', 'wrong size' or (with `hashes`) 'corrupt'; good files are absent."""
    snapshot = storage / "snapshots" / manifest.commit_sha
    problems: dict[str, str] = {}
    to_hash: list[ManifestFile] = []
    for entry in files:
        try:
            size = (snapshot / entry.path).stat().st_size
        except FileNotFoundError:
            problems[entry.path] = "missing"
            continue
        if size != entry.size:
            problems[entry.path] = "wrong size"
        elif hashes and (entry.sha256 or entry.blob_id):
            to_hash.append(entry)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for entry, ok in zip(
            to_hash, pool.map(lambda e: _content_matches(snapshot / e.path, e), to_hash), strict=True
        ):
            if not ok:
                problems[entry.path] = "corrupt"
    return dict(sorted(problems.items()))


def _content_matches(path: Path, entry: ManifestFile) -> bool:
    """sha256 for LFS files; the git blob id (sha1 of a 'blob <size>' header and the content) otherwise."""
    if entry.sha256:
        digest = hashlib.sha256()
        expected = entry.sha256
    else:
        digest = hashlib.sha1(b"blob %d\0" % entry.size, usedforsecurity=False)
        expected = entry.blob_id or ""
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == expected


def _ref_ok(storage: Path, manifest: CheckpointManifest) -> bool:
    if manifest.revision == manifest.commit_sha:
        return True
    try:
        return (storage / "refs" / manifest.revision).read_text().strip() == manifest.commit_sha
    except OSError:
        return False


def _marker_matches(cache_dir: str | Path, manifest: CheckpointManifest) -> bool:
    recorded = read_marker(cache_dir, manifest.repo_id, manifest.repo_type)
    return (
        recorded is not None
        and recorded.commit_sha == manifest.commit_sha
        and {(f.path, f.size) for f in recorded.files} == {(f.path, f.size) for f in manifest.files}
    )


def read_marker(cache_dir: str | Path, repo_id: str, repo_type: str = "model") -> CheckpointManifest | None:
    """The manifest recorded by the last verified fill of `repo_id`, or None (absent or unreadable)."""
    try:
        data = json.loads(marker_path(cache_dir, repo_id, repo_type).read_text())
        if data.get("format") != _MARKER_FORMAT or data.get("repo_id") != repo_id:
            return None
        if data.get("repo_type", "model") != repo_type:
            return None
        files = tuple(
            ManifestFile(f["path"], int(f["size"]), f.get("sha256"), f.get("blob_id")) for f in data["files"]
        )
        return CheckpointManifest(repo_id, str(data["revision"]), str(data["commit_sha"]), files, repo_type)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_marker(cache_dir: str | Path, manifest: CheckpointManifest) -> Path:
    """Write the marker atomically: a reader sees either no marker or a whole one."""
    path = marker_path(cache_dir, manifest.repo_id, manifest.repo_type)
    record = {
        "format": _MARKER_FORMAT,
        "repo_id": manifest.repo_id,
        "repo_type": manifest.repo_type,
        "revision": manifest.revision,
        "commit_sha": manifest.commit_sha,
        "total_bytes": manifest.total_bytes,
        "files": [_file_record(f) for f in manifest.files],
        "verified": "sizes, sha256 of LFS files, git blob ids of the rest",
        "completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _atomic_write(path, json.dumps(record, indent=1) + "\n")
    return path


def _file_record(entry: ManifestFile) -> dict[str, object]:
    record: dict[str, object] = {"path": entry.path, "size": entry.size}
    if entry.sha256:
        record["sha256"] = entry.sha256
    if entry.blob_id:
        record["blob_id"] = entry.blob_id
    return record


def _write_ref(storage: Path, manifest: CheckpointManifest) -> None:
    """Point refs/<revision> at the commit: vLLM resolves the revision there when offline."""
    if manifest.revision != manifest.commit_sha:
        _atomic_write(storage / "refs" / manifest.revision, manifest.commit_sha)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _discard(storage: Path, manifest: CheckpointManifest, entry: ManifestFile) -> None:
    """Remove a bad file's snapshot link and its blob so the next download fetches it again."""
    pointer = storage / "snapshots" / manifest.commit_sha / entry.path
    blobs = (storage / "blobs").resolve()
    doomed = [blobs / entry.cache_blob_name] if entry.cache_blob_name else []
    if pointer.is_symlink():
        doomed.append(pointer.resolve())
    pointer.unlink(missing_ok=True)
    for blob in doomed:
        if blob.parent == blobs:  # never follow a link out of the cache
            blob.unlink(missing_ok=True)


# -- filling -----------------------------------------------------------------------------------------


def fill_cache(
    cache_dir: str | Path,
    repo_id: str,
    revision: str = "main",
    token: str | None = None,
    endpoint: str | None = None,
    max_workers: int = 4,
    progress: ProgressCallback | None = None,
    *,
    attempts: int = 3,
    check_hashes: bool = True,
    repo_type: str = "model",
) -> FillResult:
    """Make `cache_dir` hold a verified copy of `repo_id` at `revision`, downloading only what is missing.

    Skips when the marker matches the hub's current commit and every size checks out. Otherwise downloads
    with `huggingface_hub.snapshot_download`, checks every file's size and (`check_hashes`, which reads
    every byte once) hash, throws away and re-fetches bad ones for up to `attempts` rounds, then writes
    the ref and, last, the marker. Raises WeightAccessError on 401/403, WeightCacheError when files stay bad.
    """
    manifest = expected_files(repo_id, revision, token, endpoint, repo_type)
    marker = marker_path(cache_dir, repo_id, repo_type)
    storage = repo_storage_dir(cache_dir, repo_id, repo_type)
    status = verify_cache(cache_dir, manifest)
    if status.marker_matches and not (status.missing or status.wrong_size):
        _write_ref(storage, manifest)  # the same commit may have been filled under another revision name
        return FillResult(True, 0, manifest.files, manifest.commit_sha, marker)

    # The cache is about to change: it is not known to be complete until verified again.
    marker.unlink(missing_ok=True)
    for path in status.wrong_size:
        _discard(storage, manifest, manifest.file(path))
    fetch = [manifest.file(p) for p in (*status.missing, *status.wrong_size)]
    meter = _Meter(progress, _bytes_to_fetch(storage, fetch))
    redone = list(status.wrong_size)
    verified: set[str] = set()
    bad: dict[str, str] = {}
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            _download(
                manifest, storage, token, endpoint, max_workers, meter, only=None if attempt == 0 else fetch
            )
            last_error = None
        except WeightCacheError:
            raise
        except Exception as error:
            # Dropped connections, short reads, 5xx: the next round fetches whatever is still missing.
            last_error = error
        unchecked = [f for f in manifest.files if f.path not in verified]
        bad = _check_files(storage, manifest, unchecked, check_hashes, max_workers)
        verified.update(f.path for f in unchecked if f.path not in bad)
        if not bad:
            break
        fetch = [manifest.file(p) for p in bad]
        for entry in fetch:
            if bad[entry.path] != "missing":
                redone.append(entry.path)
            _discard(storage, manifest, entry)
        meter.expect(sum(f.size for f in fetch))
    else:
        cause = f"; last error: {type(last_error).__name__}: {last_error}" if last_error else ""
        details = ", ".join(f"{p} ({why})" for p, why in list(bad.items())[:3])
        message = (
            f"{repo_id}@{manifest.commit_sha[:12]}: {len(bad)} file(s) still bad after {attempts} rounds"
        )
        raise WeightCacheError(_redact(f"{message}: {details}{cause}", token))
    _write_ref(storage, manifest)
    _write_marker(cache_dir, manifest)
    redone_once = tuple(dict.fromkeys(redone))
    return FillResult(False, meter.done, manifest.files, manifest.commit_sha, marker, redone_once)


def _bytes_to_fetch(storage: Path, files: Iterable[ManifestFile]) -> int:
    """Bytes of the files whose blob is not already cached (another commit may have brought it)."""
    total = 0
    for entry in files:
        blob = storage / "blobs" / (entry.cache_blob_name or "")
        if not (entry.cache_blob_name and blob.is_file() and blob.stat().st_size == entry.size):
            total += entry.size
    return total


def _download(
    manifest: CheckpointManifest,
    storage: Path,
    token: str | None,
    endpoint: str | None,
    max_workers: int,
    meter: _Meter,
    only: list[ManifestFile] | None,
) -> None:
    """One snapshot_download round at the manifest's exact commit (all files, or `only` these)."""
    patterns = [glob.escape(f.path) for f in only] if only is not None else None
    blobs = storage / "blobs"
    sizes = {f.cache_blob_name: f.size for f in manifest.files}
    before = set(os.listdir(blobs)) if blobs.is_dir() else set()

    def appeared() -> int:
        """Bytes of the blobs this round added, for huggingface_hub versions that report no byte counts."""
        return sum(sizes.get(name, 0) for name in set(os.listdir(blobs)) - before) if blobs.is_dir() else 0

    with _hub_errors(manifest.repo_id, manifest.revision, token), meter.round(appeared) as bar_class:
        huggingface_hub.snapshot_download(
            manifest.repo_id,
            repo_type=manifest.repo_type,
            revision=manifest.commit_sha,  # the commit the manifest describes, even if the branch moves meanwhile
            cache_dir=storage.parent,
            token=token or False,
            endpoint=endpoint,
            max_workers=max_workers,
            allow_patterns=patterns,
            tqdm_class=bar_class,
        )


@dataclass
class _Meter:
    """Counts downloaded bytes through the progress bars huggingface_hub drives, and reports them."""

    callback: ProgressCallback | None
    total: int
    done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def expect(self, more: int) -> None:
        self.total += more

    @contextlib.contextmanager
    def round(self, fallback: Callable[[], int]) -> Iterator[Any]:
        """A tqdm stand-in class for one snapshot_download call; its byte count is added on exit.

        snapshot_download feeds every byte to two aggregate bars (bytes received, bytes written), so the
        round's count is the larger of its byte bars rather than their sum; `fallback()` when there were none.
        """
        counts: dict[int, int] = {}
        meter = self

        def current() -> int:
            return max(counts.values(), default=0)

        class _Bar:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.total = kwargs.get("total")
                self.n = 0
                self.counts_bytes = kwargs.get("unit") == "B"
                self.format_dict: dict[str, Any] = {"rate": None}

            def update(self, n: float | None = 1) -> None:
                self.n += int(n or 0)
                if self.counts_bytes:
                    with meter._lock:  # one report at a time, in order
                        counts[id(self)] = self.n
                        if meter.callback is not None:
                            meter.callback(meter.done + current(), meter.total)

            def __enter__(self) -> _Bar:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def close(self) -> None:
                return None

            def refresh(self, *args: Any, **kwargs: Any) -> None:
                return None

            def set_description(self, *args: Any, **kwargs: Any) -> None:
                return None

            set_description_str = set_postfix_str = set_postfix = set_description

        try:
            yield _Bar
        finally:
            counted = current() or fallback()
            with self._lock:
                self.done += counted


def _sample(names: tuple[str, ...]) -> str:
    return ", ".join(names[:3]) + (f", ... {len(names) - 3} more" if len(names) > 3 else "")


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


# -- command line (also run standalone in pods) ------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`fill` or `check`; prints JSON lines and returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python3 -m infra.weights", description="Fill or check a Hugging Face weight cache."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fill", "check"):
        sub = commands.add_parser(name)
        sub.add_argument("--cache-dir", required=True, help="HF_HOME for vLLM: the volume or PVC mount")
        sub.add_argument("--repo", required=True, help="e.g. deepseek-ai/DeepSeek-V4-Flash")
        sub.add_argument("--revision", default="main")
        sub.add_argument("--endpoint", default=None, help="default: HF_ENDPOINT, else huggingface.co")
        sub.add_argument("--max-workers", type=int, default=4)
        sub.add_argument(
            "--repo-type", choices=REPO_TYPES, default="model", help="a dataset is cached beside"
        )
    commands.choices["fill"].add_argument(
        "--sizes-only", action="store_true", help="after downloading, check sizes but do not hash every byte"
    )
    commands.choices["check"].add_argument("--hashes", action="store_true", help="also hash every file")
    commands.choices["check"].add_argument(
        "--offline",
        action="store_true",
        help="check against the marker's file list instead of asking the hub",
    )
    args = parser.parse_args(argv)
    token = os.environ.get("HF_TOKEN") or None
    try:
        if args.command == "fill":
            return _cli_fill(args, token)
        return _cli_check(args, token)
    except WeightCacheError as error:
        _emit({"event": "error", "message": _redact(str(error), token)})
    except Exception as error:  # a pod's log gets one JSON line, not a traceback
        _emit({"event": "error", "message": _redact(f"{type(error).__name__}: {error}", token)})
    return 1


def _cli_fill(args: argparse.Namespace, token: str | None) -> int:
    last = {"at": 0.0, "bytes": -1}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        # At most one line a second, plus the line that reaches the total.
        if done != last["bytes"] and (now - last["at"] >= 1.0 or done >= total):
            last.update(at=now, bytes=done)
            _emit({"event": "progress", "bytes": done, "total": total})

    result = fill_cache(
        args.cache_dir,
        args.repo,
        args.revision,
        token,
        args.endpoint,
        args.max_workers,
        progress=report,
        check_hashes=not args.sizes_only,
        repo_type=args.repo_type,
    )
    _emit(
        {
            "event": "done",
            "skipped": result.skipped,
            "bytes_downloaded": result.bytes_downloaded,
            "commit": result.commit_sha,
            "files": len(result.files),
            "total_bytes": sum(f.size for f in result.files),
            "redone": list(result.redone),
            "marker": str(result.marker_path),
        }
    )
    return 0


def _cli_check(args: argparse.Namespace, token: str | None) -> int:
    if args.offline:
        manifest = read_marker(args.cache_dir, args.repo, args.repo_type)
        if manifest is None:
            raise WeightCacheError(f"no completeness marker for {args.repo} under {args.cache_dir}")
    else:
        manifest = expected_files(args.repo, args.revision, token, args.endpoint, args.repo_type)
    status = verify_cache(args.cache_dir, manifest, check_hashes=args.hashes, max_workers=args.max_workers)
    _emit(
        {
            "event": "done",
            "complete": status.complete,
            "commit": status.commit_sha,
            "missing": list(status.missing),
            "wrong_size": list(status.wrong_size),
            "corrupt": list(status.corrupt),
            "ref_ok": status.ref_ok,
            "marker": status.marker_matches,
            "message": status.describe(),
        }
    )
    return 0 if status.complete else 1


def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
