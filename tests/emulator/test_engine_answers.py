"""The stand-in engine's answers: stop strings as vLLM applies them, GSM8K from its cache, the serving faults."""

from __future__ import annotations

from pathlib import Path

from infra import weights
from infra.emulator import vllm_api
from infra.emulator.hub import FakeHub, gsm8k_files
from infra.emulator.vllm_api import Gsm8kAnswers, ServedModel, answer_tokens, apply_stop, gsm8k_question
from infra.validate.accuracy import answer_value, read_gsm8k


def test_stop_strings_cut_the_completion_before_the_first_one() -> None:
    tokens = vllm_api._split_tokens(" 4 + 4 = 8\n#### 8\n\nQuestion: next one")

    cut, stopped = apply_stop(tokens, ["Question", "Assistant:"])

    assert stopped and "".join(cut) == " 4 + 4 = 8\n#### 8\n\n"
    assert apply_stop(tokens, ["<|separator|>"]) == (tokens, False)


def test_the_question_of_a_few_shot_prompt_is_the_last_one() -> None:
    prompt = "Question: first?\nAnswer: 1\n#### 1\n\nQuestion: How many eggs?\nAnswer:"
    assert gsm8k_question(prompt) == "How many eggs?"
    assert gsm8k_question("What is the capital of France?") is None


def _cached_answers(tmp_path: Path) -> tuple[Gsm8kAnswers, list[tuple[str, int]]]:
    with FakeHub() as hub:
        hub.add_gsm8k(test_rows=30, train_rows=2)
        weights.fill_cache(tmp_path, "openai/gsm8k", endpoint=hub.url, repo_type="dataset")
    items = read_gsm8k(gsm8k_files(30, 2)["main/test-00000-of-00001.parquet"])
    return Gsm8kAnswers(tmp_path / "hub"), [(i.question, answer_value(i.answer)) for i in items]


def test_the_engine_knows_the_cached_dataset_and_garbled_gets_about_half_wrong(tmp_path: Path) -> None:
    known, items = _cached_answers(tmp_path)

    def score(fault: str | None) -> int:
        replies = ["".join(answer_tokens(f"Question: {q}\nAnswer:", 512, known, fault)[0]) for q, _ in items]
        return sum(answer_value(reply) == label for reply, (_, label) in zip(replies, items, strict=True))

    assert score(None) == 30
    assert 5 <= score("garbled") <= 25
    # A broken kernel still multiplies small numbers: the API check's question stays right.
    assert answer_tokens("What is 17*19?", 16, known, "garbled") == (["323"], "stop")
    # Without the dataset in its cache the engine answers filler words, like a model that never saw it.
    unknown = answer_tokens(f"Question: {items[0][0]}\nAnswer:", 8, Gsm8kAnswers(tmp_path / "nothing"))
    assert unknown[1] == "length" and len(unknown[0]) == 8


def test_slow_paces_several_times_slower_and_streams_stay_within_the_cap() -> None:
    healthy = ServedModel(["m"], "m", 1024, None, itl_seconds=0.004, version="0.25.0")
    slow = ServedModel(["m"], "m", 1024, None, itl_seconds=0.004, version="0.25.0", fault="slow")

    assert slow.step_seconds == vllm_api.SLOW_FACTOR * healthy.step_seconds >= 3 * healthy.step_seconds
    assert vllm_api.stream_time_scale(600) == vllm_api.STREAM_TIME_SCALE_CAP
    assert vllm_api.stream_time_scale(0.5) == 1.0
