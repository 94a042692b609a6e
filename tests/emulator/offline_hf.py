"""Point the real `huggingface_hub` client away from the real Hub and any cache or token of this machine."""

from __future__ import annotations

from pathlib import Path

import pytest


def offline_hf_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A client that reaches the real Hub only through an explicit endpoint= and keeps its state in tmp_path."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
