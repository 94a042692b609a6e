"""The emulator's HTTP server: REST v2, GraphQL, the pod proxy and the `/_emulator` controls.

One `ThreadingHTTPServer` on 127.0.0.1 dispatching on a `{prefix: handler}` table; each API is its
own wire module (`rest_v2`, `graphql_api`). REST v1 is retired, so `/v1/...` answers 410 Gone and
names v2. `Emulator` owns the server together with the account state; use it as a context
manager in tests, or run `python -m infra.emulator`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.emulator import controls, graphql_api, rest_v2
from infra.emulator.account import Account
from infra.emulator.clock import Clock
from infra.emulator.containers import Containers
from infra.emulator.faults import Faults, Timing
from infra.emulator.quiet_server import QuietThreadingHTTPServer
from infra.emulator.resources import RuntimeFactory, real_runtime
from infra.emulator.rest_v2_http import Answer, rate_limited

# Headers that belong to one hop and must not be forwarded by a proxy (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "content-length"}
)  # fmt: skip
BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
# REST v1 (rest.runpod.io/v1) was retired on 2026-11-15 (shared/reference/runpod.md, "READ FIRST").
V1_RETIRED = "RunPod REST v1 was retired on 2026-11-15; use REST v2 at https://api.runpod.io/v2"
# Cloudflare in front of RunPod's proxy gives up on an origin after 100 seconds (error 524).
PROXY_TIMEOUT_SECONDS = 100.0
CHUNK = 64 * 1024


class Emulator:
    """A local RunPod: start it, point the SDK at `graphql_base_url`, read the bill from `inventory()`."""

    def __init__(
        self,
        api_key: str = "emulator-key",
        time_scale: float = 1.0,
        faults: Faults | None = None,
        timing: Timing | None = None,
        state_dir: Path | None = None,
        port: int = 0,
        runtime_factory: RuntimeFactory | None = None,
    ) -> None:
        self.api_key = api_key
        self.clock = Clock(time_scale)
        self.timing = timing or Timing()
        self._owns_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="runpod-emulator-"))
        self.state = Account(
            self.clock,
            self.timing,
            faults or Faults(),
            self.state_dir,
            persist_volumes=not self._owns_state_dir,
        )
        self.containers = Containers(self.state, runtime_factory or real_runtime)
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        server = _Server(("127.0.0.1", self._requested_port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="runpod-emulator", daemon=True
        )
        self._thread.start()
        self.state.api_base_url = self.graphql_base_url
        self.containers.start()
        return self

    def stop(self) -> None:
        """Kill every pod runtime and close the server."""
        self.containers.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_base_url(self) -> str:
        return self.url

    @property
    def v2_base_url(self) -> str:
        """REST v2: `https://api.runpod.io/v2` here; the same host as GraphQL, as on RunPod."""
        return self.url + "/v2"

    @property
    def proxy_url_template(self) -> str:
        return self.url + "/_proxy/{pod_id}-{port}"

    def env(self) -> dict[str, str]:
        """The environment a client needs to talk to this emulator instead of RunPod."""
        return {
            "RUNPOD_API_BASE_URL": self.graphql_base_url,
            "RUNPOD_API_KEY": self.api_key,
            "RUNPOD_PROXY_URL_TEMPLATE": self.proxy_url_template,
        }

    def inventory(self) -> dict[str, Any]:
        return controls.inventory(self.state)

    def set_faults(self, faults: Faults) -> None:
        with self.state.lock:
            self.state.faults = faults

    def set_stock(self, stock: dict[str, dict[str, int]]) -> None:
        """Free GPUs per data center and type, e.g. only the third GPU type, or only the second data center."""
        self.state.set_stock(stock)

    @property
    def faults(self) -> Faults:
        return self.state.faults


class _Server(QuietThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines can carry keys in query strings."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    @property
    def state(self) -> Account:
        return self.server.emulator.state

    # ---- routing -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._route()
        except Exception as exc:  # a bug in the emulator still answers, as RunPod's 500s do
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(
                    500, {"errors": [{"message": f"emulator error: {type(exc).__name__}: {exc}"}]}
                )

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        try:
            body = self._read_body()
        except ValueError:
            self._send_json(400, {"error": "malformed request body", "status": 400})
            return
        routes: dict[str, Callable[[str, str, bytes], None]] = {
            "/v2/": self._v2,
            "/graphql": self._graphql,
            "/v1/": self._retired_v1,
            "/_proxy/": self._proxy,
            "/_emulator/": self._control,
        }
        for prefix, handler in routes.items():
            if path.startswith(prefix) or path.rstrip("/") == prefix.rstrip("/"):
                handler(path, parts.query, body)
                return
        self._send_json(404, {"error": f"no route for {self.command} {path}", "status": 404})

    def _v2(self, path: str, query: str, body: bytes) -> None:
        fault = self.state.take_edge_fault()
        if fault == "rate_limit":
            self._answer(rate_limited(self.state.faults.retry_after_seconds))
            return
        if fault == "server_error":
            self._send(502, BAD_GATEWAY_PAGE, "text/html")
            return
        emulator = self.server.emulator
        self._answer(
            rest_v2.handle(self.state, emulator.api_key, self.command, path, query, self.headers, body)
        )

    def _answer(self, answer: Answer) -> None:
        if answer.stream is None:
            data = b"" if answer.body is None else json.dumps(answer.body).encode()
            self._send(answer.status, data, answer.content_type if data else None, answer.headers)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in answer.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            # The client went away mid-stream (a reader that saw enough): nothing to answer.
            self.close_connection = True

    def _graphql_edge_fault(self) -> bool:
        """Answer an injected 429/502 instead of a GraphQL request; True when one was sent."""
        fault = self.state.take_edge_fault()
        if fault == "rate_limit":
            body = {"errors": [{"message": "429 Too Many Requests: rate limit exceeded, retry later"}]}
            self._send_json(429, body, {"Retry-After": str(self.state.faults.retry_after_seconds)})
            return True
        if fault == "server_error":
            self._send(502, BAD_GATEWAY_PAGE, "text/html")
            return True
        return False

    def _key(self, query: str) -> str:
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        # RunPod also accepts the key in the URL (pulumi-runpod and old clients send it there).
        return parse_qs(query).get("api_key", [""])[0]

    def _is_account_key(self, key: str) -> bool:
        return bool(key) and secrets.compare_digest(key, self.server.emulator.api_key)

    def _graphql(self, path: str, query: str, body: bytes) -> None:
        if path.rstrip("/") != "/graphql":
            self._send_json(404, {"errors": [{"message": f"no route for {self.command} {path}"}]})
            return
        if self._graphql_edge_fault():
            return
        key = self._key(query)
        scope: str | None = None
        if not self._is_account_key(key):
            pod = self.state.pod_for_key(key) if key else None
            if pod is None:
                self._send_json(401, {"errors": [{"message": "Unauthorized"}]})
                return
            scope = pod.id
        if self.command != "POST":
            self._send_json(405, {"errors": [{"message": "GraphQL requests must be POSTed"}]})
            return
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"errors": [{"message": "POST body sent invalid JSON."}]})
            return
        if not isinstance(request, dict):
            self._send_json(400, {"errors": [{"message": "POST body must be a JSON object."}]})
            return
        try:
            status, answer = graphql_api.execute(self.state, request, scope)
        except graphql_api.Unauthorized as exc:
            self._send_json(401, {"errors": [{"message": f"Unauthorized: {exc}"}]})
            return
        self._send_json(status, answer)

    def _retired_v1(self, path: str, query: str, body: bytes) -> None:
        """Every v1 call fails now, whatever the key or route; nothing reaches the account."""
        self._send_json(410, {"error": V1_RETIRED, "status": 410})

    def _control(self, path: str, query: str, body: bytes) -> None:
        status, answer = controls.handle(
            self.state, self.command, path[len("/_emulator/") :].strip("/"), body
        )
        self._send_json(status, answer)

    # ---- the pod proxy -------------------------------------------------------------------------

    def _proxy(self, path: str, query: str, body: bytes) -> None:
        target, _, sub_path = path[len("/_proxy/") :].partition("/")
        pod_id, dash, port_text = target.rpartition("-")
        if not dash or not port_text.isdigit():
            self._send(404, b"404 page not found\n", "text/plain")
            return
        with self.state.lock:
            pod = self.state.pods.get(pod_id)
            runtime = pod.runtime if pod is not None and pod.status == "RUNNING" else None
            local_port = runtime.port_map.get(int(port_text)) if runtime is not None else None
        if pod is None:
            self._send(404, b"404 page not found\n", "text/plain")
            return
        if local_port is None:
            self._send(502, BAD_GATEWAY_PAGE, "text/html")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"127.0.0.1:{local_port}"
        headers["X-Forwarded-Proto"] = "https"
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection("127.0.0.1", local_port, timeout=PROXY_TIMEOUT_SECONDS)
        try:
            upstream.request(
                self.command, "/" + sub_path + (f"?{query}" if query else ""), body or None, headers
            )
            response = upstream.getresponse()
        except TimeoutError:
            upstream.close()
            self._send(524, b"error code: 524\n", "text/plain")
            return
        except OSError:
            upstream.close()
            self._send(502, BAD_GATEWAY_PAGE, "text/html")
            return
        try:
            self._relay(response)
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        """Copy the upstream response, flushing each chunk as it arrives (SSE streams through)."""
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        length = response.getheader("Content-Length")
        no_body = self.command == "HEAD" or response.status in (204, 304)
        chunked = length is None and not no_body
        if no_body:
            self.send_header("Content-Length", "0" if length is None else length)
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if no_body:
            return
        try:
            while True:
                data = response.read1(CHUNK)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            # The pod or the client went away mid-stream: drop the connection, as a proxy does.
            self.close_connection = True

    # ---- plumbing ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
