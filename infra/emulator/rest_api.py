"""RunPod REST v1 network volumes: `/v1/networkvolumes[/ID]`."""

from __future__ import annotations

from typing import Any

from infra.emulator.state import AccountState, ApiError

PREFIX = "/v1/networkvolumes"


def handle(state: AccountState, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Answer one REST request: (status, JSON body or None for 204)."""
    try:
        return _route(state, method, path.rstrip("/"), body)
    except ApiError as exc:
        return exc.status, error_body(exc.message, exc.status)


def error_body(message: str, status: int) -> dict[str, Any]:
    return {"error": message, "status": status}


def _route(state: AccountState, method: str, path: str, body: Any) -> tuple[int, Any]:
    if path == PREFIX:
        if method == "GET":
            with state.lock:
                return 200, [volume.view() for volume in state.volumes.values()]
        if method == "POST":
            data = _object(body)
            name = data.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError("name is required")
            volume = state.create_volume(name, _size(data.get("size")), str(data.get("dataCenterId") or ""))
            return 200, volume.view()
        raise ApiError(f"method {method} not allowed on {PREFIX}", 405)
    if not path.startswith(PREFIX + "/") or "/" in path[len(PREFIX) + 1 :]:
        raise ApiError(f"no route for {method} {path}", 404)
    volume_id = path[len(PREFIX) + 1 :]
    if method == "GET":
        return 200, state.get_volume(volume_id).view()
    if method == "PATCH":
        data = _object(body)
        size = _size(data["size"]) if data.get("size") is not None else None
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise ApiError("name must be a non-empty string")
        return 200, state.update_volume(volume_id, name, size).view()
    if method == "DELETE":
        state.delete_volume(volume_id)
        return 204, None
    raise ApiError(f"method {method} not allowed on {PREFIX}/{{id}}", 405)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    return body


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"size must be an integer number of GB, got {value!r}")
    return value
