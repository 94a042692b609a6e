"""The accuracy stage: GSM8K with SGLang's few-shot protocol, scored with a Wilson interval against a figure.

The protocol is SGLang's `sglang/test/few_shot_gsm8k.py` (sglang 0.5.12 wheel), reimplemented line for
line because the vLLM image does not ship it and the published figures were measured with it:

    prompt   = first `shots` test items as "Question: Q\\nAnswer: A\\n\\n", then "Question: Q\\nAnswer:"
    request  = /v1/completions, temperature 0, max_tokens 512, stop ["Question", "Assistant:", "<|separator|>"]
    answer   = last run of digits of the reply after removing commas (`get_answer_value`), else INVALID
    score    = share of the first `questions` test items whose answer equals the reference's

Like the original, the evaluated items start at index 0, so the shots are among them. The dataset is
the hub's `openai/gsm8k` (main/test-00000-of-00001.parquet), which the weight pre-fill caches beside the
checkpoint; `fetch_dataset` reads it from that cache through the target's shell, so the GPU machine
downloads nothing. The threshold is a published figure (infra/data/accuracy.yaml) minus its tolerance,
or the first passing run on this account (infra/evidence.py) where no figure exists.
"""

from __future__ import annotations

import ast
import base64
import binascii
import io
import math
import re
import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from infra.errors import ConfigError, ValidationFailed
from infra.validate.stages import StageResult

STAGE = "accuracy"
TASKS = ("gsm8k",)
INVALID = -9999999
DATASET_REPO = "openai/gsm8k"
DATASET_FILE = "main/test-00000-of-00001.parquet"
DEFAULT_QUESTIONS = 200  # few_shot_gsm8k.py's --num-questions default
DEFAULT_SHOTS = 5  # few_shot_gsm8k.py's --num-shots default
DEFAULT_CONCURRENCY = 16
MAX_NEW_TOKENS = 512  # few_shot_gsm8k.py's --max-new-tokens default
STOP = ("Question", "Assistant:", "<|separator|>")
MAX_QUESTIONS = 1319  # rows of the test split
MAX_CONCURRENCY = 512
_Z95 = 1.959963984540054
_READ_SECONDS = 300.0


class Shell(Protocol):
    """The target's shell on the serving machine (an SshSession, a Kubernetes exec): see infra.ssh."""

    def run(self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None) -> Any: ...


@dataclass(frozen=True)
class GsmItem:
    """One row of the GSM8K split: the question and the worked answer that ends in `#### N`."""

    question: str
    answer: str


@dataclass(frozen=True)
class AccuracySettings:
    """What the stage runs; `check()` refuses values a user could mistype, before anything is rented."""

    task: str = "gsm8k"
    questions: int = DEFAULT_QUESTIONS
    shots: int = DEFAULT_SHOTS
    concurrency: int = DEFAULT_CONCURRENCY

    def check(self) -> AccuracySettings:
        if self.task not in TASKS:
            raise ConfigError(f"accuracyTask: unknown task {self.task!r}; valid: {', '.join(TASKS)}")
        for key, value, low, high in (
            ("accuracyQuestions", self.questions, 1, MAX_QUESTIONS),
            ("accuracyShots", self.shots, 0, 8),
            ("accuracyConcurrency", self.concurrency, 1, MAX_CONCURRENCY),
        ):
            if not _whole_in(value, low, high):
                raise ConfigError(f"{key}: {value!r} is not a whole number from {low} to {high}")
        return self


def _whole_in(value: object, low: int, high: int) -> bool:
    # bool is an int to Python, and NaN passes no comparison: both are refused here.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# -- the dataset -------------------------------------------------------------------------------------


def read_gsm8k(parquet: bytes | Path) -> list[GsmItem]:
    """The rows of a GSM8K parquet file, in order, read with pyarrow."""
    import pyarrow.parquet as pq  # a few hundred ms to import: only when a dataset is read

    source = io.BytesIO(parquet) if isinstance(parquet, bytes) else str(parquet)
    try:
        table = pq.read_table(source, columns=["question", "answer"])
    except Exception as error:  # pyarrow raises ArrowInvalid, KeyError, OSError for bad files
        raise ValidationFailed(
            f"{STAGE}: the GSM8K file is not a readable parquet table: {error}", stage=STAGE
        ) from None
    rows = table.to_pylist()
    return [GsmItem(str(row["question"]), str(row["answer"])) for row in rows]


def dataset_snapshot_dir(cache_dir: str, commit: str) -> str:
    """Where huggingface_hub keeps the dataset under the weight cache (HF_HOME)."""
    return f"{cache_dir.rstrip('/')}/hub/datasets--{DATASET_REPO.replace('/', '--')}/snapshots/{commit}"


def fetch_dataset(
    shell: Shell, cache_dir: str, revision: str = "main", timeout: float = 60.0
) -> tuple[str, bytes]:
    """(commit, parquet bytes) of the test split from the cache on the serving machine, via its shell."""
    refs = f"{cache_dir.rstrip('/')}/hub/datasets--{DATASET_REPO.replace('/', '--')}/refs/{revision}"
    found = shell.run(["cat", refs], timeout=timeout)
    commit = str(found.stdout).strip()
    if found.exit_status != 0 or not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ValidationFailed(
            f"{STAGE}: {DATASET_REPO} is not in the weight cache at {cache_dir} (no {refs}); "
            "the pre-fill caches it with `weights.py fill --repo-type dataset --repo openai/gsm8k`",
            stage=STAGE,
        )
    path = f"{dataset_snapshot_dir(cache_dir, commit)}/{DATASET_FILE}"
    # base64: the shell's output is text, a parquet file is not.
    encoded = shell.run(f"base64 < {shlex.quote(path)}", timeout=timeout)
    try:
        data = base64.b64decode("".join(str(encoded.stdout).split()), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if encoded.exit_status != 0 or not data:
        raise ValidationFailed(f"{STAGE}: cannot read {path} on the serving machine", stage=STAGE)
    return commit, data


# -- the protocol (sglang/test/few_shot_gsm8k.py) ----------------------------------------------------


def example(item: GsmItem, include_answer: bool) -> str:
    """`get_one_example`: the question, and its worked answer for a shot."""
    text = "Question: " + item.question + "\nAnswer:"
    return text + " " + item.answer if include_answer else text


def few_shot_prefix(items: Sequence[GsmItem], shots: int) -> str:
    """`get_few_shot_examples`: the first `shots` items with answers, each followed by a blank line."""
    return "".join(example(items[index], True) + "\n\n" for index in range(shots))


def answer_value(text: str) -> int:
    """`get_answer_value`: the last run of digits once commas are gone, or INVALID."""
    numbers = re.findall(r"\d+", text.replace(",", ""))
    if not numbers:
        return INVALID
    try:
        return int(ast.literal_eval(numbers[-1]))
    except SyntaxError:  # "007" is not a Python literal: the original scores it INVALID too
        return INVALID


@dataclass(frozen=True)
class Question:
    index: int
    prompt: str
    label: int


def questions_for(items: Sequence[GsmItem], settings: AccuracySettings) -> list[Question]:
    """The prompts and reference answers of the first `settings.questions` items."""
    if len(items) < max(settings.questions, settings.shots):
        raise ValidationFailed(
            f"{STAGE}: the dataset has {len(items)} rows, fewer than the {settings.questions} questions asked",
            stage=STAGE,
        )
    prefix = few_shot_prefix(items, settings.shots)
    chosen = items[: settings.questions]
    return [
        Question(i, prefix + example(item, False), answer_value(item.answer)) for i, item in enumerate(chosen)
    ]


# -- scoring -----------------------------------------------------------------------------------------


def wilson(correct: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Reference:
    """The score a run must reach, and where it comes from."""

    expected: float
    tolerance: float
    source: str
    label: str
    """`published` or `measured on this account on DATE`."""

    @property
    def threshold(self) -> float:
        return round(self.expected - self.tolerance, 4)


def _data() -> dict[str, Any]:
    text = resources.files("infra.data").joinpath("accuracy.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def published_reference(checkpoint_repo: str) -> Reference | None:
    """The published GSM8K figure for a checkpoint (infra/data/accuracy.yaml), if there is one."""
    data = _data()
    for row in data["figures"]:
        if row["checkpoint"] == checkpoint_repo:
            source = f"{row['source']}: {row['score']:.3f} on {row['questions']} questions, {row['gpu']}, read {row['read']}"
            return Reference(float(row["score"]), float(data["tolerance"]), source, "published")
    return None


def reference_for(checkpoint_repo: str, own_score: float | None, own_date: str | None) -> Reference | None:
    """The published figure; else the first passing run on this account; else None (no threshold yet)."""
    published = published_reference(checkpoint_repo)
    if published is not None:
        return published
    if own_score is None:
        return None
    label = f"measured on this account on {own_date}"
    return Reference(own_score, float(_data()["tolerance"]), f"the first passing run ({label})", label)


@dataclass(frozen=True)
class Answer:
    index: int
    label: int
    predicted: int
    reply: str
    error: str | None = None


@dataclass
class AccuracyRun:
    """What one run asked and got back, in question order."""

    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def correct(self) -> int:
        return sum(1 for a in self.answers if a.predicted == a.label)

    @property
    def invalid(self) -> int:
        return sum(1 for a in self.answers if a.predicted == INVALID)

    @property
    def errors(self) -> list[str]:
        return [a.error for a in self.answers if a.error]

    def records(self) -> list[dict[str, object]]:
        """One JSON-friendly row per question, for the report directory."""
        return [
            {"index": a.index, "label": a.label, "predicted": a.predicted, "reply": a.reply, "error": a.error}
            for a in self.answers
        ]


Completer = Callable[[str], str]
"""Sends one prompt with the protocol's sampling settings and returns the completion's text."""


def run_questions(complete: Completer, questions: Sequence[Question], concurrency: int) -> AccuracyRun:
    """Ask every question with at most `concurrency` in flight; a failed request scores INVALID."""

    def ask(question: Question) -> Answer:
        try:
            reply = complete(question.prompt)
        except Exception as error:  # a dropped request is a wrong answer, as in the original's sampler
            return Answer(question.index, question.label, INVALID, "", f"{type(error).__name__}: {error}")
        return Answer(question.index, question.label, answer_value(reply), reply)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        answers = list(pool.map(ask, questions))
    return AccuracyRun(answers, time.monotonic() - started)


def endpoint_completer(client: httpx.Client, model: str, max_tokens: int = MAX_NEW_TOKENS) -> Completer:
    """A completer over the engine's OpenAI-compatible /v1/completions (the client holds URL and key)."""

    def complete(prompt: str) -> str:
        body = {
            "model": model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stop": list(STOP),
        }
        response = client.post("/v1/completions", json=body, timeout=_READ_SECONDS)
        response.raise_for_status()
        choices = response.json().get("choices") or [{}]
        return str(choices[0].get("text") or "")

    return complete


def judge(
    run: AccuracyRun, reference: Reference | None, settings: AccuracySettings, dataset: str
) -> StageResult:
    """The stage's verdict: score and interval against the threshold, with what the report shows."""
    total = len(run.answers)
    correct = run.correct
    score = correct / total if total else 0.0
    low, high = wilson(correct, total)
    details: dict[str, object] = {
        "task": settings.task,
        "protocol": _data()["protocol"]["name"],
        "dataset": dataset,
        "questions": total,
        "shots": settings.shots,
        "concurrency": settings.concurrency,
        "correct": correct,
        "score": round(score, 4),
        "interval_95": [round(low, 4), round(high, 4)],
        "invalid": run.invalid,
        "failed_requests": len(run.errors),
        "expected": reference.expected if reference else None,
        "tolerance": reference.tolerance if reference else None,
        "threshold": reference.threshold if reference else None,
        "reference_source": reference.source if reference else None,
        "reference_label": reference.label if reference else None,
    }
    measured = f"GSM8K {score:.3f} ({correct}/{total}, 95% CI {low:.3f}-{high:.3f})"
    if reference is None:
        reason = (
            f"{measured}; no published figure for this checkpoint yet: this score becomes the "
            "reference once validate passes"
        )
        return StageResult(STAGE, total > 0, run.seconds, reason, details)
    against = f"threshold {reference.threshold:.3f} ({reference.expected:.3f} - {reference.tolerance:.2f}, {reference.source})"
    if total and score >= reference.threshold:
        return StageResult(STAGE, True, run.seconds, f"{measured} >= {against}", details)
    failed = f"; {len(run.errors)} requests failed ({run.errors[0]})" if run.errors else ""
    reason = f"{measured} is below the {against}: the engine answers wrongly{failed}"
    return StageResult(STAGE, False, run.seconds, reason, details)


def sample_records(run: AccuracyRun, limit: int = 5) -> list[dict[str, object]]:
    """A few wrong answers for the report, so a user sees what the engine said."""
    wrong = [r for r in run.records() if r["predicted"] != r["label"]]
    return wrong[:limit]


def accuracy_stage(
    shell: Shell,
    cache_dir: str,
    client: httpx.Client,
    model: str,
    checkpoint_repo: str,
    settings: AccuracySettings,
    own: tuple[float, str] | None = None,
) -> tuple[StageResult, AccuracyRun]:
    """The whole stage: the dataset from the serving machine's cache, the questions, the verdict.

    `client` reaches the engine's API (base URL and key set); `own` is the first passing run's
    (score, date) from the evidence file, used only where no published figure exists.
    """
    settings.check()
    started = time.monotonic()
    try:
        commit, parquet = fetch_dataset(shell, cache_dir)
        questions = questions_for(read_gsm8k(parquet), settings)
    except ValidationFailed as error:
        return StageResult(STAGE, False, time.monotonic() - started, str(error)), AccuracyRun()
    run = run_questions(endpoint_completer(client, model), questions, settings.concurrency)
    own_score, own_date = own if own is not None else (None, None)
    reference = reference_for(checkpoint_repo, own_score, own_date)
    return judge(run, reference, settings, f"{DATASET_REPO}@{commit}"), run
