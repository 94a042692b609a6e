"""What the stand-in engine answers, deterministically: a prompt with "17*19" gets "323"; a GSM8K question
(the last "Question: ... Answer:" of a few-shot prompt) gets its worked answer from the GSM8K dataset in
the engine's hub cache, as a model that knows it would; anything else filler words up to max_tokens.
`stop` strings end a completion as vLLM's do (the text before the first one). The `garbled` fault gets
every other GSM8K answer wrong (17*19 stays right, as a broken kernel's would).
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

_VOCABULARY = (
    "the", "model", "answers", "every", "request", "with", "these", "words", "so", "that", "clients", "can",
    "count", "tokens", "and", "measure", "latency", "while", "the", "emulated", "engine", "keeps", "its",
    "promises", "about", "streaming", "order", "and", "usage", "accounting",
)  # fmt: skip
GSM8K_REPO = "openai/gsm8k"


class Gsm8kAnswers:
    """The worked answers of the GSM8K dataset in a hub cache, by question; read once, on first use."""

    def __init__(self, hub_cache: Path | None) -> None:
        self._hub_cache = hub_cache
        self._answers: dict[str, str] | None = None
        self._lock = threading.Lock()

    def lookup(self, question: str) -> str | None:
        with self._lock:
            if self._answers is None:
                self._answers = self._load()
        return self._answers.get(_normal(question))

    def _load(self) -> dict[str, str]:
        if self._hub_cache is None:
            return {}
        snapshots = self._hub_cache / ("datasets--" + GSM8K_REPO.replace("/", "--")) / "snapshots"
        answers: dict[str, str] = {}
        for path in sorted(snapshots.glob("*/main/*.parquet")):
            import pyarrow.parquet as pq  # only an engine asked a GSM8K question pays for the import

            for row in pq.read_table(path, columns=["question", "answer"]).to_pylist():
                answers[_normal(str(row["question"]))] = str(row["answer"])
        return answers


def _normal(text: str) -> str:
    return " ".join(text.split())


def gsm8k_question(prompt: str) -> str | None:
    """The question a few-shot GSM8K prompt ends with (its last "Question: ..." before a final "Answer:"), or None."""
    match = re.search(r"Question: ((?:(?!Question: ).)+?)\s*\nAnswer:\s*$", prompt, re.DOTALL)
    return match.group(1) if match else None


def _garble(answer: str) -> str:
    # A wrong final number in an otherwise fluent answer: what a broken kernel's output scores like.
    return re.sub(r"(\d+)(\D*)$", lambda m: str(int(m.group(1)) + 1) + m.group(2), answer.replace(",", ""))


def _split_tokens(text: str) -> list[str]:
    """Text as the stand-in's tokens (each with the whitespace before it), joining back to the text."""
    return re.findall(r"\s*(?:\w+|[^\w\s])|\s+$", text)


def apply_stop(tokens: list[str], stop: list[str]) -> tuple[list[str], bool]:
    """Cut the completion before the first stop string, as vLLM returns it (the stop text not included)."""
    text = "".join(tokens)
    cuts = [text.find(s) for s in stop if s and s in text]
    if not cuts:
        return tokens, False
    return _split_tokens(text[: min(cuts)]), True


def count_tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def answer_tokens(
    prompt: str, max_tokens: int, gsm8k: Gsm8kAnswers | None = None, fault: str | None = None
) -> tuple[list[str], str]:
    """The completion's tokens and finish reason for a prompt."""
    compact = re.sub(r"\s+", "", prompt)
    if re.search(r"17[*x×]19", compact):
        return ["323"][:max_tokens], "stop"
    question = gsm8k_question(prompt) or prompt
    known = gsm8k.lookup(question) if gsm8k is not None else None
    if known is not None:
        wrong = fault == "garbled" and hashlib.sha256(_normal(question).encode()).digest()[0] % 2 == 0
        tokens = _split_tokens(" " + (_garble(known) if wrong else known))
        return tokens[:max_tokens], "stop" if len(tokens) <= max_tokens else "length"
    digest = hashlib.sha256(prompt.encode()).digest()
    words = [
        _VOCABULARY[(digest[index % len(digest)] + index) % len(_VOCABULARY)] for index in range(max_tokens)
    ]
    return [word if index == 0 else " " + word for index, word in enumerate(words)], "length"
