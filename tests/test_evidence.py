"""The evidence file: own passing runs recorded by config digest, rehearsals never, changed configs not reused."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from infra import evidence
from infra.evidence import EvidenceStore, RunConfig
from infra.validate import accuracy, benchmark

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bench"
SECRET = "sk-evidence-CANARY-0d9c8b7a"
ARGV = ["vllm", "serve", "deepseek-ai/DeepSeek-V4-Flash", "--kv-cache-dtype", "fp8", "--api-key", SECRET]
ENV = {"VLLM_API_KEY": SECRET, "HF_HUB_OFFLINE": "1", "NCCL_CUMEM_ENABLE": "1"}
CONFIG = RunConfig(
    model="deepseek-ai/DeepSeek-V4-Flash",
    revision="0123456789abcdef0123456789abcdef01234567",
    gpu="H200",
    gpu_count=4,
    engine="vllm",
    engine_version="0.25.0",
    flags_digest=evidence.flags_digest(ARGV, ENV),
)
WORKLOAD = benchmark.Workload("published", 8192, 1024, 16, 32)


def _point(date: str = "2026-12-02") -> evidence.MeasuredPoint:
    """A point built from the real-format vLLM result file and an accuracy stage's details."""
    text = (FIXTURES / "vllm-0.25.0-save-result.json").read_text()
    measured = benchmark.parse_result("vllm", text, WORKLOAD).as_dict()
    run = accuracy.AccuracyRun(
        [accuracy.Answer(i, 1, 1, "") for i in range(190)] + [accuracy.Answer(190, 1, 2, "")] * 10
    )
    stage = accuracy.judge(
        run, accuracy.reference_for(CONFIG.model, None, None), accuracy.AccuracySettings(), "d"
    )
    return evidence.point_from_reports(CONFIG, measured, stage.details, date, stack="flash-4xh200")


def test_a_rehearsal_is_never_recorded(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")

    assert store.record([_point()], rehearsal=True) == 0
    assert not store.path.exists() and store.points() == []


def test_a_recorded_real_format_point_is_found_for_the_same_config_and_labelled(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    assert store.record([_point("2026-11-30")], rehearsal=False) == 1
    store.record([_point("2026-12-02")], rehearsal=False)

    found = store.throughput_point(CONFIG, 8192, 1024, 16)

    assert found is not None and found.label == "measured on this account on 2026-12-02"
    assert found.results.output_tok_s == pytest.approx(1436.311036)
    assert (found.results.ttft_p50_ms, found.results.tpot_p99_ms) == (393.9, 9.37)
    assert found.accuracy is not None and found.accuracy.score == 0.95
    assert store.throughput_point(CONFIG, 8192, 1024, 8) is None  # another workload
    # The own accuracy reference is the first passing run.
    assert store.first_accuracy(CONFIG) == (0.95, "2026-11-30")


@pytest.mark.parametrize(
    "changed",
    [
        replace(CONFIG, flags_digest=evidence.flags_digest([*ARGV, "--enforce-eager"], ENV)),
        replace(CONFIG, flags_digest=evidence.flags_digest(ARGV, {**ENV, "NCCL_CUMEM_ENABLE": "0"})),
        replace(CONFIG, engine_version="0.30.0"),
        replace(CONFIG, revision="f" * 40),
        replace(CONFIG, gpu_count=8),
    ],
)
def test_a_changed_config_does_not_reuse_the_point(tmp_path: Path, changed: RunConfig) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    store.record([_point()], rehearsal=False)

    assert changed.digest != CONFIG.digest
    assert store.throughput_point(changed, 8192, 1024, 16) is None
    assert store.first_accuracy(changed) is None


def test_secrets_change_no_digest_and_never_reach_the_file(tmp_path: Path) -> None:
    other = [*ARGV[:-1], "sk-another-key"]
    assert evidence.flags_digest(other, {**ENV, "VLLM_API_KEY": "x"}) == CONFIG.flags_digest

    store = EvidenceStore(tmp_path / "evidence.jsonl")
    store.record([_point()], rehearsal=False)

    assert SECRET not in store.path.read_text()


def test_torn_foreign_and_hand_edited_lines_are_skipped(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    store.record([_point()], rehearsal=False)
    edited = json.loads(store.path.read_text())
    edited["config"]["engine_version"] = "0.30.0"  # the digest still names the old config
    with store.path.open("a") as handle:
        handle.write('{"format": 1, "config": {"model"\n')
        handle.write(json.dumps({"format": 99}) + "\n")
        handle.write(json.dumps(edited) + "\n")

    assert [p.config.engine_version for p in store.points()] == ["0.25.0"]


def test_impossible_values_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    bad = replace(_point(), results=replace(_point().results, output_tok_s=math.nan))

    with pytest.raises(ValueError, match="impossible values: output_tok_s"):
        store.record([bad], rehearsal=False)
    assert not store.path.exists()


def test_default_path_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert evidence.default_path() == tmp_path / "deepseek-v4-infra" / "evidence.jsonl"
