"""The weight cache against a local fake hub, over real HTTP, with the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

from infra import weights
from infra.emulator.hub import FakeHub
from infra.weights import WeightAccessError, WeightCacheError

REPO = "deepseek-ai/DeepSeek-V4-Flash"
SHARD = "model-00002-of-00003.safetensors"
CANARY = "hf_CANARYtokenNEVERprintMe0123456789"
WEIGHTS_PY = Path(weights.__file__)


@pytest.fixture(autouse=True)
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing may reach huggingface.co, and no token from this machine may leak into a test."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home-unused"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_fake_checkpoint(REPO, shards=3, shard_bytes=4096)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def gated_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(token=CANARY) as server:
        server.add_fake_checkpoint(REPO, shards=2, shard_bytes=2048)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def snapshot_bytes(cache: Path, commit: str) -> dict[str, bytes]:
    snapshot = weights.repo_storage_dir(cache, REPO) / "snapshots" / commit
    return {p.relative_to(snapshot).as_posix(): p.read_bytes() for p in snapshot.rglob("*") if p.is_file()}


def served_bytes(hub: FakeHub) -> dict[str, bytes]:
    return {path: f.data for path, f in hub.files(REPO).items()}


def blob_of(cache: Path, commit: str, path: str) -> Path:
    return (weights.repo_storage_dir(cache, REPO) / "snapshots" / commit / path).resolve()


def test_fill_downloads_every_file_verifies_and_marks(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    reports: list[tuple[int, int]] = []
    result = weights.fill_cache(
        cache, REPO, endpoint=hub.url, progress=lambda done, total: reports.append((done, total))
    )

    assert not result.skipped
    assert snapshot_bytes(cache, result.commit_sha) == served_bytes(hub)
    total = sum(len(b) for b in served_bytes(hub).values())
    assert result.bytes_downloaded == hub.bytes_served(REPO) == total
    assert reports[-1] == (total, total)
    marker = json.loads(result.marker_path.read_text())
    assert marker["commit_sha"] == result.commit_sha
    assert {f["path"]: f["size"] for f in marker["files"]} == {
        p: len(b) for p, b in served_bytes(hub).items()
    }
    assert weights.verify_cache(
        cache, weights.expected_files(REPO, endpoint=hub.url), check_hashes=True
    ).complete
    # What vLLM does with HF_HOME=<cache> and HF_HUB_OFFLINE=1: resolve `main` and find every file locally.
    offline = huggingface_hub.snapshot_download(REPO, cache_dir=cache / "hub", local_files_only=True)
    assert Path(offline) == weights.repo_storage_dir(cache, REPO) / "snapshots" / result.commit_sha


def test_second_fill_downloads_nothing(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    weights.fill_cache(cache, REPO, endpoint=hub.url)
    served, requests = hub.bytes_served(REPO), len(hub.requests)

    again = weights.fill_cache(cache, REPO, endpoint=hub.url)

    assert again.skipped
    assert again.bytes_downloaded == 0
    assert hub.bytes_served(REPO) == served
    # Only the file list was asked for: no file was even looked at.
    assert [path for _, path in hub.requests[requests:]] == [f"/api/models/{REPO}/revision/main"]


@pytest.mark.parametrize("mode", ["truncate", "corrupt"])
def test_broken_download_is_detected_and_redone(hub: FakeHub, tmp_path: Path, mode: str) -> None:
    cache = tmp_path / "volume"
    hub.break_file(REPO, SHARD, mode, times=1)  # type: ignore[arg-type]

    result = weights.fill_cache(cache, REPO, endpoint=hub.url)

    assert snapshot_bytes(cache, result.commit_sha)[SHARD] == hub.files(REPO)[SHARD].data
    assert weights.verify_cache(
        cache, weights.expected_files(REPO, endpoint=hub.url), check_hashes=True
    ).complete
    assert hub.bytes_served(REPO) > sum(len(b) for b in served_bytes(hub).values())
    if mode == "corrupt":  # a short read is resumed by the client; wrong bytes only our hash check catches
        assert result.redone == (SHARD,)


def test_a_file_that_stays_corrupt_fails_without_a_marker(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    hub.break_file(REPO, SHARD, "corrupt", times=10)

    with pytest.raises(WeightCacheError, match=rf"{SHARD} \(corrupt\)"):
        weights.fill_cache(cache, REPO, endpoint=hub.url, attempts=3)

    assert not weights.marker_path(cache, REPO).exists()
    assert not weights.verify_cache(cache, weights.expected_files(REPO, endpoint=hub.url)).complete


def test_incomplete_cache_is_detected_and_only_the_damage_refetched(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    first = weights.fill_cache(cache, REPO, endpoint=hub.url)
    deleted, shrunk = "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"
    blob_of(cache, first.commit_sha, deleted).unlink()
    with blob_of(cache, first.commit_sha, shrunk).open("r+b") as handle:
        handle.truncate(1000)

    status = weights.verify_cache(cache, weights.expected_files(REPO, endpoint=hub.url))
    assert (status.missing, status.wrong_size, status.complete) == ((deleted,), (shrunk,), False)
    assert "incomplete" in status.describe()

    served = hub.bytes_served(REPO)
    again = weights.fill_cache(cache, REPO, endpoint=hub.url)

    assert not again.skipped
    assert again.bytes_downloaded == hub.bytes_served(REPO) - served == 2 * 4096
    assert again.redone == (shrunk,)
    assert snapshot_bytes(cache, first.commit_sha) == served_bytes(hub)
    assert weights.verify_cache(cache, weights.expected_files(REPO, endpoint=hub.url)).complete


def test_files_without_marker_are_verified_not_downloaded(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    weights.fill_cache(cache, REPO, endpoint=hub.url)
    weights.marker_path(cache, REPO).unlink()
    served = hub.bytes_served(REPO)
    status = weights.verify_cache(cache, weights.expected_files(REPO, endpoint=hub.url))
    assert status.files_ok and not status.complete

    again = weights.fill_cache(cache, REPO, endpoint=hub.url)

    assert not again.skipped and again.bytes_downloaded == 0
    assert hub.bytes_served(REPO) == served
    assert weights.marker_path(cache, REPO).exists()


def test_a_new_commit_on_the_hub_fetches_only_changed_files(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    old = weights.fill_cache(cache, REPO, endpoint=hub.url)
    files = served_bytes(hub)
    files[SHARD] = bytes(reversed(files[SHARD]))
    new_commit = hub.add_repo(REPO, files)
    served = hub.bytes_served(REPO)

    result = weights.fill_cache(cache, REPO, endpoint=hub.url)

    assert result.commit_sha == new_commit != old.commit_sha
    assert hub.bytes_served(REPO) - served == len(files[SHARD])
    assert snapshot_bytes(cache, new_commit) == files
    assert json.loads(result.marker_path.read_text())["commit_sha"] == new_commit
    refs_main = weights.repo_storage_dir(cache, REPO) / "refs" / "main"
    assert refs_main.read_text() == new_commit


def test_gated_repo_without_token_fails_clearly(gated_hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    with pytest.raises(WeightAccessError, match="no HF token was given; set HF_TOKEN") as missing:
        weights.fill_cache(cache, REPO, endpoint=gated_hub.url)
    assert "401" in str(missing.value)

    with pytest.raises(WeightAccessError, match="the HF token lacks access to the gated repo") as wrong:
        weights.fill_cache(cache, REPO, token="hf_wrong", endpoint=gated_hub.url)
    assert "403" in str(wrong.value)

    assert not weights.marker_path(cache, REPO).exists()
    assert gated_hub.bytes_served(REPO) == 0
    result = weights.fill_cache(cache, REPO, token=CANARY, endpoint=gated_hub.url)
    assert result.marker_path.exists()
    assert CANARY not in result.marker_path.read_text()


def test_unknown_revision_is_a_weight_cache_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(WeightCacheError, match="has no revision 'v9'"):
        weights.fill_cache(tmp_path / "volume", REPO, revision="v9", endpoint=hub.url)


def run_standalone(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python3 - <args> < infra/weights.py` as in a pod: only the stdlib and huggingface_hub importable."""
    # -S skips site-packages' .pth files, so this project's editable install is invisible, as in a pod.
    env = {**env, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    with WEIGHTS_PY.open() as script:
        return subprocess.run(
            [sys.executable, "-S", "-", *args], stdin=script, env=env, cwd=cwd, capture_output=True, text=True
        )


def json_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_standalone_script_fills_checks_and_never_prints_the_token(
    gated_hub: FakeHub, tmp_path: Path
) -> None:
    cache = tmp_path / "volume"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": gated_hub.url,
        "HF_TOKEN": CANARY,
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    fill = ["fill", "--cache-dir", str(cache), "--repo", REPO, "--max-workers", "2"]

    first = run_standalone(fill, env, tmp_path)
    second = run_standalone(fill, env, tmp_path)
    check = run_standalone(["check", "--cache-dir", str(cache), "--repo", REPO, "--hashes"], env, tmp_path)
    denied = run_standalone(fill, {**env, "HF_TOKEN": "hf_wrong"}, tmp_path)

    assert first.returncode == 0, first.stderr
    events = json_lines(first.stdout)
    assert {e["event"] for e in events[:-1]} == {"progress"}
    total = sum(len(f.data) for f in gated_hub.files(REPO).values())
    assert events[-2] == {"event": "progress", "bytes": total, "total": total}
    assert events[-1]["event"] == "done" and events[-1]["skipped"] is False
    assert events[-1]["bytes_downloaded"] == total
    assert json_lines(second.stdout)[-1] == {**events[-1], "skipped": True, "bytes_downloaded": 0}
    assert check.returncode == 0 and json_lines(check.stdout)[-1]["complete"] is True
    assert denied.returncode == 1
    assert json_lines(denied.stdout)[-1]["event"] == "error"
    assert "lacks access to the gated repo" in str(json_lines(denied.stdout)[-1]["message"])

    outputs = [p.stdout + p.stderr for p in (first, second, check, denied)]
    outputs.append(weights.marker_path(cache, REPO).read_text())
    assert all(CANARY not in text for text in outputs)


def test_module_cli_reports_an_incomplete_cache(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    result = weights.fill_cache(cache, REPO, endpoint=hub.url)
    blob_of(cache, result.commit_sha, SHARD).unlink()
    env = {**os.environ, "HF_ENDPOINT": hub.url}

    check = subprocess.run(
        [sys.executable, "-m", "infra.weights", "check", "--cache-dir", str(cache), "--repo", REPO],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(weights.__file__).parents[1],
    )
    offline = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.weights",
            "check",
            "--offline",
            "--cache-dir",
            str(cache),
            "--repo",
            REPO,
        ],
        env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        cwd=Path(weights.__file__).parents[1],
    )

    for run in (check, offline):
        assert run.returncode == 1, run.stderr
        report = json_lines(run.stdout)[-1]
        assert report["complete"] is False and report["missing"] == [SHARD]


def test_filling_by_commit_then_by_branch_adds_the_ref_without_downloading(
    hub: FakeHub, tmp_path: Path
) -> None:
    cache = tmp_path / "volume"
    commit = hub.commit(REPO)
    weights.fill_cache(cache, REPO, revision=commit, endpoint=hub.url)
    served = hub.bytes_served(REPO)

    by_branch = weights.fill_cache(cache, REPO, revision="main", endpoint=hub.url)

    assert by_branch.skipped and hub.bytes_served(REPO) == served
    offline = huggingface_hub.snapshot_download(REPO, cache_dir=cache / "hub", local_files_only=True)
    assert Path(offline).name == commit
