"""An httpx client for the emulator's REST v2 that lets RunPod's OpenAPI v2 file judge both sides.

Every body a test sends is checked with `contracts.request_errors` (valid unless the test says it
means to break the contract), and every answer with `contracts.response_errors`.
"""

from __future__ import annotations

from typing import Any

import httpx

from infra import contracts
from infra.emulator import Emulator


class V2:
    def __init__(self, emulator: Emulator, key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key != "" else {}
        if key is None:
            headers = {"Authorization": f"Bearer {emulator.api_key}"}
        self.client = httpx.Client(base_url=emulator.url, headers=headers, timeout=30.0)

    def __enter__(self) -> V2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        valid: bool = True,
    ) -> httpx.Response:
        if body is not None:
            errors = contracts.request_errors(method, path, body)
            assert (errors == []) == valid, f"the contract says of this body: {errors}"
        response = self.client.request(method, path, json=body, params=params)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/html"):
            return response  # Cloudflare's edge page (an injected 502), not an answer of the API
        answer = response.json() if response.content and "json" in content_type else None
        assert contracts.response_errors(method, path, response.status_code, answer) == []
        if response.status_code >= 400:
            assert content_type == "application/problem+json"
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body: Any, valid: bool = True) -> httpx.Response:
        return self.call("POST", path, body, valid=valid)

    def patch(self, path: str, body: Any, valid: bool = True) -> httpx.Response:
        return self.call("PATCH", path, body, valid=valid)

    def delete(self, path: str) -> httpx.Response:
        return self.call("DELETE", path)

    def pod(self, pod_id: str) -> dict[str, Any]:
        response = self.get(f"/v2/pods/{pod_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())
