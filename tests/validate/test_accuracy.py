"""The accuracy stage: SGLang's few-shot GSM8K protocol, the Wilson interval, the threshold and its source.

The end-to-end tests read the dataset the real huggingface_hub client cached on an emulated pod's
volume (from the local hub's GSM8K in the real repo's layout) through the pod's SSH shell, and ask the
stand-in engine over HTTP; `garbled` makes it answer wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import weights
from infra.emulator.hub import FakeHub
from infra.errors import ConfigError, ValidationFailed
from infra.validate import accuracy
from infra.validate.accuracy import (
    INVALID,
    AccuracyRun,
    AccuracySettings,
    Answer,
    GsmItem,
    Reference,
)

API_KEY = "sk-validate-CANARY-4f1d2a9b7c"  # the emulated pod fixture's key (tests/validate/conftest.py)
FLASH = "deepseek-ai/DeepSeek-V4-Flash"
ITEMS = [
    GsmItem(f"What is {n} + {n}?", f"{n} + {n} = <<{n}+{n}={2 * n}>>{2 * n}\n#### {2 * n}")
    for n in range(1, 9)
]


def test_answer_value_is_sglangs_last_integer_without_commas() -> None:
    assert accuracy.answer_value("So 3 + 4 = 7.\n#### 1,234") == 1234
    assert accuracy.answer_value("The answer is 12, not 13") == 13
    assert accuracy.answer_value("-5 degrees") == 5  # the original's \d+ drops the sign, for labels too
    assert accuracy.answer_value("no number here") == INVALID
    assert accuracy.answer_value("it is 007") == INVALID  # not a Python literal: INVALID in the original


def test_prompt_is_the_first_shots_with_answers_then_the_question() -> None:
    questions = accuracy.questions_for(ITEMS, AccuracySettings(questions=3, shots=2))

    shots = (
        "Question: What is 1 + 1?\nAnswer: 1 + 1 = <<1+1=2>>2\n#### 2\n\n"
        "Question: What is 2 + 2?\nAnswer: 2 + 2 = <<2+2=4>>4\n#### 4\n\n"
    )
    assert [q.prompt for q in questions] == [
        shots + f"Question: What is {n} + {n}?\nAnswer:" for n in (1, 2, 3)
    ]
    assert [q.label for q in questions] == [2, 4, 6]


def test_too_few_rows_for_the_questions_asked_is_one_line() -> None:
    with pytest.raises(ValidationFailed, match="has 8 rows, fewer than the 9 questions"):
        accuracy.questions_for(ITEMS, AccuracySettings(questions=9))


def test_wilson_interval_matches_the_textbook_values() -> None:
    assert accuracy.wilson(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert accuracy.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = accuracy.wilson(191, 200)
    assert low < 191 / 200 < high <= 1.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (AccuracySettings(questions=0), "accuracyQuestions: 0 is not a whole number from 1 to 1319"),
        (AccuracySettings(questions=-3), "accuracyQuestions: -3 is not"),
        (AccuracySettings(questions=math.nan), "accuracyQuestions: nan is not"),  # type: ignore[arg-type]
        (AccuracySettings(questions=True), "accuracyQuestions: True is not"),
        (AccuracySettings(concurrency=0), "accuracyConcurrency: 0 is not a whole number from 1 to 512"),
        (AccuracySettings(task="mmlu"), "accuracyTask: unknown task 'mmlu'; valid: gsm8k"),
    ],
)
def test_bad_settings_are_refused_with_the_key_and_the_valid_range(
    settings: AccuracySettings, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings.check()


def test_published_figure_gives_the_threshold_and_names_its_source() -> None:
    reference = accuracy.reference_for(FLASH, own_score=0.5, own_date="2026-11-30")

    assert reference is not None and reference.label == "published"
    assert (reference.expected, reference.tolerance, reference.threshold) == (0.955, 0.05, 0.905)
    assert "sgl-project/sglang#28983" in reference.source and "read 2026-12-02" in reference.source


def test_without_a_figure_the_first_own_run_is_the_reference_and_says_so() -> None:
    own = accuracy.reference_for("someone/custom-v4", own_score=0.91, own_date="2026-11-30")
    none = accuracy.reference_for("someone/custom-v4", own_score=None, own_date=None)

    assert own is not None and own.label == "measured on this account on 2026-11-30"
    assert own.threshold == pytest.approx(0.86)
    assert none is None


def _run(correct: int, total: int) -> AccuracyRun:
    return AccuracyRun([Answer(i, 7, 7 if i < correct else 8, "") for i in range(total)], seconds=1.0)


def test_judge_passes_at_the_threshold_and_reports_what_the_report_needs() -> None:
    reference = Reference(0.955, 0.05, "sglang#28983", "published")
    result = accuracy.judge(_run(181, 200), reference, AccuracySettings(), "openai/gsm8k@abc")

    assert result.passed and result.name == "accuracy"
    assert result.details["score"] == 0.905 and result.details["threshold"] == 0.905
    assert result.details["interval_95"] == [round(v, 4) for v in accuracy.wilson(181, 200)]
    assert result.details["reference_source"] == "sglang#28983"
    assert "GSM8K 0.905 (181/200, 95% CI" in result.reason and ">= threshold 0.905" in result.reason


def test_judge_fails_below_the_threshold_with_one_line() -> None:
    reference = Reference(0.955, 0.05, "sglang#28983", "published")
    result = accuracy.judge(_run(120, 200), reference, AccuracySettings(), "openai/gsm8k@abc")

    assert not result.passed
    assert "GSM8K 0.600 (120/200" in result.reason and "below the threshold 0.905" in result.reason
    assert "\n" not in result.reason


def test_failed_requests_score_invalid_and_are_named() -> None:
    def flaky(prompt: str) -> str:
        if "What is 2 + 2" in prompt.rsplit("Question:", 1)[-1]:
            raise httpx.ConnectError("refused")
        return "#### " + str(2 * int(prompt.rsplit("What is ", 1)[-1].split(" ")[0]))

    questions = accuracy.questions_for(ITEMS, AccuracySettings(questions=4, shots=0))
    run = accuracy.run_questions(flaky, questions, concurrency=2)

    assert [a.predicted for a in run.answers] == [2, INVALID, 6, 8]
    assert run.correct == 3 and run.invalid == 1 and run.errors == ["ConnectError: refused"]


# -- end to end: the dataset from the pod's cache, the stand-in engine's answers ----------------------


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_gsm8k(test_rows=40, train_rows=4)
        yield server


def _cache_dataset(hub: FakeHub, volume: Path) -> str:
    """What the CPU pre-fill does: the dataset into the volume's HF cache, beside the checkpoint."""
    return weights.fill_cache(volume / "hf", "openai/gsm8k", endpoint=hub.url, repo_type="dataset").commit_sha


def _stage(pod_endpoint: str, shell: accuracy.Shell, settings: AccuracySettings) -> accuracy.StageResult:
    commit, parquet = accuracy.fetch_dataset(shell, "/workspace/hf")
    questions = accuracy.questions_for(accuracy.read_gsm8k(parquet), settings)
    with httpx.Client(base_url=pod_endpoint, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        run = accuracy.run_questions(
            accuracy.endpoint_completer(client, model), questions, settings.concurrency
        )
    return accuracy.judge(run, accuracy.reference_for(FLASH, None, None), settings, f"openai/gsm8k@{commit}")


def test_stand_in_engine_answers_the_cached_dataset_and_passes(launch_pod: Any, hub: FakeHub) -> None:
    pod = launch_pod(healthy=True)
    commit = _cache_dataset(hub, pod.runtime.launch.volume_dir)

    result = _stage(pod.endpoint, pod.ssh, AccuracySettings(questions=40, concurrency=8).check())

    assert result.passed, result.reason
    assert result.details["score"] == 1.0 and result.details["dataset"] == f"openai/gsm8k@{commit}"
    assert result.details["threshold"] == 0.905 and result.details["reference_label"] == "published"


def test_garbled_engine_fails_the_accuracy_stage(launch_pod: Any, hub: FakeHub) -> None:
    pod = launch_pod(fault="garbled", healthy=True)
    _cache_dataset(hub, pod.runtime.launch.volume_dir)

    result = _stage(pod.endpoint, pod.ssh, AccuracySettings(questions=40, concurrency=8).check())

    assert not result.passed
    assert isinstance(result.details["score"], float) and result.details["score"] < 0.8
    assert "below the threshold 0.905" in result.reason


def test_a_dataset_missing_from_the_cache_is_one_line_naming_the_fix(launch_pod: Any) -> None:
    pod = launch_pod(healthy=True)

    with pytest.raises(
        ValidationFailed, match=r"openai/gsm8k is not in the weight cache .*--repo-type dataset"
    ):
        accuracy.fetch_dataset(pod.ssh, "/workspace/hf")


def test_the_whole_stage_reads_asks_and_judges(launch_pod: Any, hub: FakeHub) -> None:
    pod = launch_pod(healthy=True)
    _cache_dataset(hub, pod.runtime.launch.volume_dir)
    settings = AccuracySettings(questions=20, concurrency=4)

    with httpx.Client(base_url=pod.endpoint, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        result, run = accuracy.accuracy_stage(pod.ssh, "/workspace/hf", client, FLASH, FLASH, settings)
        custom, _ = accuracy.accuracy_stage(
            pod.ssh, "/workspace/hf", client, FLASH, "someone/custom-v4", settings, own=(0.99, "2026-11-30")
        )

    assert result.passed and run.correct == 20 and len(run.records()) == 20
    # Without a published figure the own first run is the reference: 1.0 >= 0.99 - 0.05.
    assert custom.passed and custom.details["reference_label"] == "measured on this account on 2026-11-30"


def test_the_whole_stage_fails_in_one_line_without_the_dataset(launch_pod: Any) -> None:
    pod = launch_pod(healthy=True)
    with httpx.Client(base_url=pod.endpoint) as client:
        result, run = accuracy.accuracy_stage(
            pod.ssh, "/workspace/hf", client, FLASH, FLASH, AccuracySettings()
        )

    assert not result.passed and run.answers == []
    assert "openai/gsm8k is not in the weight cache at /workspace/hf" in result.reason
