"""API checks against the emulated engine over loopback, and the official openai client once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openai import OpenAI

from infra.validate.api_checks import check_api

SERVED_MODEL = "deepseek-ai/DeepSeek-V4-Flash"  # --served-model-name in the rendered start script


def checks(result: Any) -> dict[str, bool]:
    return {check["name"]: check["passed"] for check in result.details["checks"]}


def test_healthy_engine_passes_every_sub_check(serving_pod: Any) -> None:
    result = check_api(serving_pod.endpoint, serving_pod.api_key, SERVED_MODEL, timeout=30)
    assert result.passed, result.reason
    assert result.name == "api"
    assert checks(result) == {"models": True, "answer": True, "stream": True, "auth": True}
    assert "17*19 = 323" in result.reason
    assert serving_pod.api_key not in repr(result)


def test_wrong_key_fails_and_names_the_first_failing_sub_check(serving_pod: Any) -> None:
    result = check_api(serving_pod.endpoint, "sk-not-the-key", SERVED_MODEL, timeout=30)
    assert not result.passed
    assert result.reason.startswith("models: GET /v1/models answered HTTP 401")
    assert "\n" not in result.reason
    assert checks(result) == {"models": False, "answer": False, "stream": False, "auth": True}


def test_a_model_the_engine_does_not_serve_is_named(serving_pod: Any) -> None:
    result = check_api(serving_pod.endpoint, serving_pod.api_key, "deepseek-v4-pro", timeout=30)
    assert not result.passed
    assert result.reason == f"models: /v1/models lists ['{SERVED_MODEL}'], not 'deepseek-v4-pro'"


def test_endpoint_that_answers_without_a_key_fails_the_auth_check(launch_pod: Callable[..., Any]) -> None:
    open_pod = launch_pod(api_key=None, healthy=True)
    result = check_api(open_pod.endpoint, "sk-any", SERVED_MODEL, timeout=30)
    assert not result.passed
    assert checks(result) == {"models": True, "answer": True, "stream": True, "auth": False}
    assert result.reason == "auth: a request with no key was answered HTTP 200, not refused"


def test_official_openai_client_speaks_to_the_endpoint(serving_pod: Any) -> None:
    client = OpenAI(base_url=serving_pod.endpoint + "/v1", api_key=serving_pod.api_key, max_retries=0)
    try:
        assert [model.id for model in client.models.list()] == [SERVED_MODEL]
        answer = client.chat.completions.create(
            model=SERVED_MODEL,
            messages=[{"role": "user", "content": "What is 17*19? Return only the final integer."}],
            temperature=0,
        )
        assert (answer.choices[0].message.content or "").strip() == "323"
        stream = client.chat.completions.create(
            model=SERVED_MODEL,
            messages=[{"role": "user", "content": "Write a poem"}],
            max_tokens=8,
            stream=True,
        )
        pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
        text = "".join(piece or "" for piece in pieces)
        assert len([piece for piece in pieces if piece]) == 8
        assert len(text.split()) == 8
    finally:
        client.close()
