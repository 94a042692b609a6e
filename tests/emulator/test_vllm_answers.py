"""The stand-in engine's answers (infra/emulator/vllm_answers.py): stop strings as vLLM applies them, GSM8K from
its cache, the garbled fault."""

from __future__ import annotations

from pathlib import Path

from infra import weights
from infra.emulator import vllm_answers
from infra.emulator.hub import FakeHub, gsm8k_files
from infra.emulator.vllm_answers import Gsm8kAnswers, answer_tokens, apply_stop, gsm8k_question
from infra.validate.accuracy import answer_value, read_gsm8k


def test_stop_strings_cut_the_completion_before_the_first_one() -> None:
    tokens = vllm_answers._split_tokens(" 4 + 4 = 8\n#### 8\n\nQuestion: next one")

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
