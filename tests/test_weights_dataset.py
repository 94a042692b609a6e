"""The GSM8K dataset is cached beside the checkpoint by the same filler, with the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import weights
from infra.emulator.hub import FakeHub
from infra.validate.accuracy import read_gsm8k

CHECKPOINT = "deepseek-ai/DeepSeek-V4-Flash"
DATASET = "openai/gsm8k"
TOKEN = "hf_CANARYtokenNEVERprintMe0123456789"


@pytest.fixture(autouse=True)
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home-unused"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(token=TOKEN) as server:
        server.add_fake_checkpoint(CHECKPOINT, shards=2, shard_bytes=2048)
        server.add_gsm8k(test_rows=12, train_rows=4)
        yield server


def test_dataset_fills_beside_the_checkpoint_in_the_hub_cache_layout(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    model = weights.fill_cache(cache, CHECKPOINT, token=TOKEN, endpoint=hub.url)
    data = weights.fill_cache(cache, DATASET, token=TOKEN, endpoint=hub.url, repo_type="dataset")

    commit = hub.commit(DATASET, repo_type="dataset")
    snapshot = cache / "hub" / "datasets--openai--gsm8k" / "snapshots" / commit
    assert data.commit_sha == commit and not data.skipped
    assert (cache / "hub" / "datasets--openai--gsm8k" / "refs" / "main").read_text() == commit
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == [
        ".gitattributes",
        "README.md",
        "main/test-00000-of-00001.parquet",
        "main/train-00000-of-00001.parquet",
        "socratic/test-00000-of-00001.parquet",
        "socratic/train-00000-of-00001.parquet",
    ]
    assert len(read_gsm8k(snapshot / "main" / "test-00000-of-00001.parquet")) == 12
    # Two markers side by side: the model's keeps its name, the dataset's says what it is.
    assert weights.marker_path(cache, CHECKPOINT) == model.marker_path
    assert data.marker_path.name == "complete-dataset-openai--gsm8k.json"
    assert json.loads(data.marker_path.read_text())["repo_type"] == "dataset"
    # A model and a dataset of the same name are different repos.
    assert weights.read_marker(cache, DATASET) is None
    assert weights.read_marker(cache, DATASET, "dataset") is not None


def test_second_dataset_fill_downloads_nothing(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    weights.fill_cache(cache, DATASET, endpoint=hub.url, repo_type="dataset")
    served = hub.bytes_served(DATASET, repo_type="dataset")

    again = weights.fill_cache(cache, DATASET, endpoint=hub.url, repo_type="dataset")

    assert again.skipped and again.bytes_downloaded == 0
    assert hub.bytes_served(DATASET, repo_type="dataset") == served


def test_standalone_filler_caches_the_dataset_offline_checkable(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "volume"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
    }
    common = ["--cache-dir", str(cache), "--repo", DATASET, "--repo-type", "dataset"]

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        # Fed on stdin from outside the repository, as in a pod where the package is not installed.
        with Path(weights.__file__).open("rb") as script:
            return subprocess.run(
                [sys.executable, "-", *args],
                stdin=script,
                capture_output=True,
                cwd=tmp_path,
                env=env,
                timeout=120,
            )

    filled = run(["fill", *common])
    checked = run(["check", *common, "--offline"])

    assert filled.returncode == 0, filled.stderr
    done = json.loads(filled.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["commit"] == hub.commit(DATASET, repo_type="dataset")
    assert checked.returncode == 0 and json.loads(checked.stdout.splitlines()[-1])["complete"] is True
    assert TOKEN.encode() not in filled.stdout + filled.stderr


def test_an_unknown_repo_type_is_one_argparse_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        weights.main(["fill", "--cache-dir", str(tmp_path), "--repo", DATASET, "--repo-type", "space"])
    assert raised.value.code == 2
