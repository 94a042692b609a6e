"""Fixtures for the real Pulumi engine against the RunPod emulator and a local Hugging Face hub.

Every test gets its own emulator, hub, file backend and copy of the project; the process environment
points every client (the engine, the dynamic providers, `Lifecycle`) at them, so nothing leaves loopback
and nothing the engine writes lands in the checkout.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from canary_record import seed_passing_canary
from pulumi import automation as auto

from infra.config import project_root
from infra.emulator import Emulator, Timing
from infra.emulator.hub import FakeHub
from infra.workspace import copy_project, open_workspace

# Values that must never show up in state, output or a report.
CANARY_RUNPOD_KEY = "rpa_ENGINECANARY7c41d9e2b05f3a"
CANARY_HF_TOKEN = "hf_ENGINECANARYa83f6d21c9e4"
PASSPHRASE = "engine-tests-passphrase"
CHECKPOINTS = ("deepseek-ai/DeepSeek-V4-Flash", "deepseek-ai/DeepSeek-V4-Pro")
# One real second is ten simulated minutes: pods start in 0.1 s and the engine loads in 1 s.
TIME_SCALE = 600.0


def _require_pulumi() -> None:
    if shutil.which("pulumi") is None:
        pytest.fail(
            "no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh` (`make test` does both)",
            pytrace=False,
        )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (V4INFRA_ROOT); the working directory, where reports go, is in tmp_path."""
    _require_pulumi()
    root = project_root()
    work = copy_project(root, tmp_path / "project")
    monkeypatch.setenv("V4INFRA_ROOT", str(work))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    return work


@pytest.fixture
def timing() -> Timing:
    """Simulated durations; a test overrides it with `@pytest.mark.parametrize("timing", [...])`."""
    return Timing(start_seconds=60, load_seconds=600)


@pytest.fixture
def emulator(tmp_path: Path, timing: Timing) -> Iterator[Emulator]:
    """The RunPod emulator, on the canary key, fast enough for CI."""
    emu = Emulator(
        api_key=CANARY_RUNPOD_KEY, time_scale=TIME_SCALE, timing=timing, state_dir=tmp_path / "emulator"
    ).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """A local hub holding tiny Flash and Pro checkpoints and a GSM8K, behind the canary token."""
    server = FakeHub(token=CANARY_HF_TOKEN).start()
    for repo_id in CHECKPOINTS:
        server.add_fake_checkpoint(repo_id, shards=4, shard_bytes=64 * 1024)
    # The accuracy stage's dataset, pre-filled beside the checkpoint (enough rows for its 200 questions).
    server.add_gsm8k(test_rows=240)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def engine_env(
    project: Path, emulator: Emulator, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the engine, providers and Lifecycle at the emulator and hub; returns the full environment."""
    backend = tmp_path / "backend"
    backend.mkdir()
    for name in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        **emulator.env(),
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": CANARY_HF_TOKEN,
        "V4INFRA_STATE_DIR": str(tmp_path / "state"),
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    # The account's canary passed earlier (tests/engine/test_engine_canary.py runs it for real).
    seed_passing_canary(tmp_path / "state", CANARY_RUNPOD_KEY)
    return dict(os.environ)


@pytest.fixture
def backend(engine_env: dict[str, str]) -> Path:
    """The file backend's directory."""
    return Path(engine_env["PULUMI_BACKEND_URL"].removeprefix("file://"))


@pytest.fixture
def open_stack(engine_env: dict[str, str]) -> Callable[[str], auto.Stack]:
    """Select (or create) a stack through the same workspace `v4infra` uses."""
    return lambda name: open_workspace({}).stack(name)


@pytest.fixture
def canaries() -> tuple[str, str]:
    """The RunPod key and HF token every client in these tests uses."""
    return CANARY_RUNPOD_KEY, CANARY_HF_TOKEN


@pytest.fixture
def state_texts(backend: Path) -> Callable[[], dict[str, str]]:
    """Every file under the backend as text (gzip opened), plus what pickled providers hold, decoded."""

    def read() -> dict[str, str]:
        texts: dict[str, str] = {}
        for path in sorted(p for p in backend.rglob("*") if p.is_file()):
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8", errors="replace")
            texts[str(path.relative_to(backend))] = text
            for i, blob in enumerate(_providers(text)):
                texts[f"{path.relative_to(backend)}#provider{i}"] = blob.decode("latin-1")
        return texts

    return read


def _providers(text: str) -> list[bytes]:
    """The base64 pickles of dynamic providers in a state file: a key pickled there would hide from grep."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    found: list[bytes] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "__provider" and isinstance(value, str):
                    found.append(base64.b64decode(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return found
