"""With a RunPod key, `plan` reads the account's GPU catalog and says where its price and stock differ
from the data file's; without one, or when the catalog cannot be read, the plan stands as it is."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infra.cli import main
from infra.emulator import Emulator
from infra.emulator.catalog import GPU_TYPES


def test_plan_states_the_live_price_and_stock_when_they_differ(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["plan", "pro-8xh200"]) == 0
    assert "RunPod quotes $3.59/GPU-h for NVIDIA H200 now, as the plan" in capsys.readouterr().out
    # RunPod's pricing page as transcribed on 2026-10-07 (issue 20): $4.59 for H200, not gpus.yaml's $3.59.
    h200 = GPU_TYPES["NVIDIA H200"]
    monkeypatch.setitem(GPU_TYPES, "NVIDIA H200", dataclasses.replace(h200, secure_price=4.59))
    live = 4.59
    assert main(["plan", "pro-8xh200"]) == 0
    out = capsys.readouterr().out
    assert (
        f"live (RunPod catalog): RunPod quotes ${live:.2f}/GPU-h for NVIDIA H200 now, the plan used $3.59/GPU-h"
        in out
    )
    assert f"set gpuPriceUsd: {live:.2f}" in out
    assert "live (RunPod catalog): in stock for 8 GPUs: " in out or "no stock for 8x NVIDIA H200" in out
    assert main(["plan", "pro-8xh200", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["live"]["usd_per_gpu_hour"] == live and data["cost"]["usd_per_gpu_hour"] == 3.59


def test_without_a_key_the_plan_reads_nothing_live(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    assert main(["plan", "pro-8xh200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["live"] is None


def test_a_catalog_that_cannot_be_read_is_a_sentence_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_wrong")
    monkeypatch.setenv("RUNPOD_API_BASE_URL", "http://127.0.0.1:9/v2")
    assert main(["plan", "pro-8xh200"]) == 0
    assert "live (RunPod catalog): live prices not read:" in capsys.readouterr().out
