"""The fake vLLM's OpenAI-compatible HTTP API: /health, /v1/models, chat and text completions, /metrics.

What it answers is `vllm_answers.py`'s, what /metrics shows `vllm_metrics.py`'s. Streaming sends one
token per SSE chunk.

Pacing (an emulator heuristic fitted to the SGLang cookbook's H200 cells, see `fake_vllm.decode_seconds`):
the first token after about 1% of a decode step per prompt token (at least two steps), then one token
per step, each step longer by `running ** BATCH_EXPONENT` as more requests share the batch. Engine faults:
`garbled` answers GSM8K wrongly (`vllm_answers.py`), `slow` paces SLOW_FACTOR times slower.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from infra.emulator.quiet_server import QuietThreadingHTTPServer
from infra.emulator.vllm_answers import Gsm8kAnswers, answer_tokens, apply_stop, count_tokens
from infra.emulator.vllm_metrics import Metrics, prometheus_text

# Per-stream decode steps lengthen with the batch: the cookbook's Flash 4x H200 cell has TPOT 3.37 ms
# at concurrency 1 and 8.42 ms at 16, and 16 ** 0.33 = 2.5 (docs_new/.../deepseek-v4-benchmarks.jsx).
BATCH_EXPONENT = 0.33
# Prefill of one prompt token, as a share of a decode step: 237 ms TTFT for 8,192 tokens at 3.37 ms TPOT.
PREFILL_SHARE = 0.0086
SLOW_FACTOR = 5.0
# Streams are paced at most this many simulated seconds per real one, so that Python's per-chunk cost
# (tens of microseconds) stays small beside a paced step; bench clients convert back with the same scale.
STREAM_TIME_SCALE_CAP = 10.0


def stream_time_scale(time_scale: float) -> float:
    """The time scale the engine paces streams at (EMULATOR_TIME_SCALE, capped)."""
    return max(1.0, min(time_scale, STREAM_TIME_SCALE_CAP))


@dataclass
class ServedModel:
    """What the engine serves and how fast it answers (real seconds per token)."""

    names: list[str]
    root: str
    max_model_len: int
    api_key: str | None
    itl_seconds: float
    version: str
    created: int = field(default_factory=lambda: int(time.time()))
    fault: str | None = None
    """`garbled` or `slow` (see the module docstring); other engine faults never reach serving."""
    hub_cache: Path | None = None
    """The hub cache (HF_HOME/hub) the engine reads, where the pre-fill put the GSM8K dataset."""

    @property
    def step_seconds(self) -> float:
        return self.itl_seconds * (SLOW_FACTOR if self.fault == "slow" else 1.0)


def _message_text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
        elif content is not None:
            parts.append(str(content))
    return "\n".join(parts)


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": status}}


class VllmHandler(BaseHTTPRequestHandler):
    """One HTTP request against the fake engine; the server carries the model and metrics."""

    protocol_version = "HTTP/1.1"
    server: EngineServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _access_log(self, status: int) -> None:
        phrase = self.responses.get(status, ("",))[0]
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        self.server.uvicorn_log(
            f'INFO:     {client} - "{self.command} {self.path} HTTP/1.1" {status} {phrase}'.strip()
        )

    def _send_json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._access_log(status)

    def _authorized(self) -> bool:
        key = self.server.model.api_key
        # vLLM only guards /v1 routes; /health and /metrics stay open.
        if key is None or not self.path.startswith("/v1"):
            return True
        return self.headers.get("Authorization", "") == f"Bearer {key}"

    def do_GET(self) -> None:
        if not self._authorized():
            self._send_json(401, {"error": "Unauthorized"})
            return
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
            self._access_log(200)
        elif path == "/v1/models":
            self._send_json(200, self._models())
        elif path == "/version":
            self._send_json(200, {"version": self.server.model.version})
        elif path == "/metrics":
            data = prometheus_text(self.server.metrics, self.server.model.names[0]).encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self._access_log(200)
        else:
            self._send_json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            self._send_json(401, {"error": "Unauthorized"})
            return
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"detail": "Not Found"})
            return
        try:
            request = json.loads(raw or b"{}")
            if not isinstance(request, dict):
                raise ApiError(400, "Request body must be a JSON object", "BadRequestError")
            self._complete(request, chat=path == "/v1/chat/completions")
        except json.JSONDecodeError as error:
            self._send_json(400, ApiError(400, f"Invalid JSON: {error}", "BadRequestError").body)
        except ApiError as error:
            self._send_json(error.status, error.body)

    def _models(self) -> dict[str, object]:
        model = self.server.model
        data: list[dict[str, object]] = [
            {
                "id": name,
                "object": "model",
                "created": model.created,
                "owned_by": "vllm",
                "root": model.root,
                "parent": None,
                "max_model_len": model.max_model_len,
                "permission": [],
            }
            for name in model.names
        ]
        return {"object": "list", "data": data}

    def _complete(self, request: dict[str, Any], chat: bool) -> None:
        model = self.server.model
        name = request.get("model") or model.names[0]
        if name not in model.names:
            raise ApiError(404, f"The model `{name}` does not exist.", "NotFoundError", "model")
        if chat:
            messages = request.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "messages must be a non-empty list", "BadRequestError", "messages")
            prompt = _message_text(messages)
            prompt_tokens = count_tokens(prompt) + 4 * len(messages)
        else:
            raw_prompt = request.get("prompt", "")
            prompt = "\n".join(raw_prompt) if isinstance(raw_prompt, list) else str(raw_prompt)
            prompt_tokens = count_tokens(prompt)
        max_tokens = int(request.get("max_completion_tokens") or request.get("max_tokens") or 16)
        if prompt_tokens + max_tokens > model.max_model_len:
            raise ApiError(
                400,
                f"This model's maximum context length is {model.max_model_len} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
                "completion). Please reduce the length of the messages or completion.",
                "BadRequestError",
            )
        tokens, finish = answer_tokens(prompt, max_tokens, self.server.gsm8k, model.fault)
        raw_stop = request.get("stop") or []
        tokens, stopped = apply_stop(tokens, [raw_stop] if isinstance(raw_stop, str) else list(raw_stop))
        finish = "stop" if stopped else finish
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        kind = "chatcmpl" if chat else "cmpl"
        completion_id = f"{kind}-{uuid.uuid4().hex}"
        with self.server.metrics.lock:
            self.server.metrics.running += 1
            self.server.metrics.prompt_tokens += prompt_tokens
        pacer = _Pacer(self.server, prompt_tokens)
        try:
            if request.get("stream"):
                options = request.get("stream_options") or {}
                self._stream(
                    completion_id,
                    name,
                    chat,
                    tokens,
                    finish,
                    usage if options.get("include_usage") else None,
                    pacer,
                )
            else:
                pacer.first_token()
                for _ in range(max(len(tokens) - 1, 0)):
                    pacer.next_token()
                self._send_json(200, self._whole(completion_id, name, chat, "".join(tokens), finish, usage))
        finally:
            with self.server.metrics.lock:
                self.server.metrics.running -= 1
                self.server.metrics.generation_tokens += len(tokens)
                self.server.metrics.finished[finish] += 1

    def _whole(
        self, completion_id: str, name: str, chat: bool, text: str, finish: str, usage: dict[str, int]
    ) -> dict[str, object]:
        choice: dict[str, object] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if chat:
            choice["message"] = {
                "role": "assistant",
                "content": text,
                "tool_calls": [],
                "reasoning_content": None,
            }
        else:
            choice["text"] = text
        return {
            "id": completion_id,
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": [choice],
            "usage": usage,
        }

    def _chunks(
        self,
        completion_id: str,
        name: str,
        chat: bool,
        tokens: list[str],
        finish: str,
        usage: dict[str, int] | None,
        pacer: _Pacer,
    ) -> Iterator[dict[str, object]]:
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": name,
        }

        def choice(text: str | None, reason: str | None, role: bool = False) -> dict[str, object]:
            if not chat:
                return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}
            delta: dict[str, object] = {"role": "assistant", "content": ""} if role else {}
            if text is not None:
                delta["content"] = text
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}

        if chat:
            yield {**base, "choices": [choice(None, None, role=True)]}
        pacer.first_token()
        for index, token in enumerate(tokens):
            if index:
                pacer.next_token()
            last = index == len(tokens) - 1
            yield {**base, "choices": [choice(token, None if chat or not last else finish)]}
        if chat or not tokens:
            yield {**base, "choices": [choice("" if not chat else None, finish)]}
        if usage is not None:
            yield {**base, "choices": [], "usage": usage}

    def _stream(
        self,
        completion_id: str,
        name: str,
        chat: bool,
        tokens: list[str],
        finish: str,
        usage: dict[str, int] | None,
        pacer: _Pacer,
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._access_log(200)
        try:
            for chunk in self._chunks(completion_id, name, chat, tokens, finish, usage, pacer):
                self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Pacer:
    """One request's token schedule: each token is due a step after the last, however long writing took."""

    def __init__(self, server: EngineServer, prompt_tokens: int) -> None:
        self._server = server
        self._prompt_tokens = prompt_tokens
        self._due = time.monotonic()

    def _step(self) -> float:
        with self._server.metrics.lock:
            running = self._server.metrics.running
        return self._server.model.step_seconds * max(1, running) ** BATCH_EXPONENT

    def _wait(self, seconds: float) -> None:
        self._due += seconds
        delay = self._due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def first_token(self) -> None:
        ttft = max(2.0, PREFILL_SHARE * self._prompt_tokens) * self._step()
        self._wait(ttft)
        with self._server.metrics.lock:
            self._server.metrics.ttft.append(ttft)

    def next_token(self) -> None:
        self._wait(self._step())


class EngineServer(QuietThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, model: ServedModel, uvicorn_log: Callable[[str], None]) -> None:
        super().__init__(("127.0.0.1", port), VllmHandler)
        self.model = model
        self.metrics = Metrics()
        self.uvicorn_log = uvicorn_log
        self.gsm8k = Gsm8kAnswers(model.hub_cache)


def serve(
    model: ServedModel, port: int, log: Callable[[str], None], uvicorn_log: Callable[[str], None]
) -> None:
    """Bind, print the ready lines vLLM prints, and serve until the process ends."""
    server = EngineServer(port, model, uvicorn_log)
    log("Available routes are:")
    for route, methods in (("/health", "GET"), ("/v1/models", "GET"), ("/v1/chat/completions", "POST"),
                           ("/v1/completions", "POST"), ("/metrics", "GET"), ("/version", "GET")):  # fmt: skip
        log(f"Route: {route}, Methods: {methods}")
    uvicorn_log("INFO:     Started server process")
    uvicorn_log("INFO:     Waiting for application startup.")
    uvicorn_log("INFO:     Application startup complete.")
    server.serve_forever(poll_interval=0.2)
