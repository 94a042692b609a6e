"""The local hub's HTTP side: the routes `huggingface_hub` 2.4.0 calls to download a snapshot, for models and
(with the `datasets/` prefix the client adds, `constants.REPO_TYPES_URL_PREFIXES`) datasets:

    GET      /api/{models|datasets}/{repo}[/revision/{rev}]     info; `?blobs=true` adds sizes and LFS sha256
    GET      /api/{models|datasets}/{repo}/tree/{rev}[/{path}]  tree listing (`?recursive=true`)
    HEAD|GET [/datasets]/{repo}/resolve/{rev}/{path}            regular file: 200, ETag (git blob id),
                                                      X-Repo-Commit; LFS file: 302 to a CDN host with
                                                      X-Linked-Etag/-Size
    HEAD|GET /_cdn[/datasets]/{repo}/{sha256}                   LFS content, no auth (a signed URL), Range

Errors carry the Hub's `X-Error-Code` (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound), which the
client turns into its own exception classes.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Literal, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from infra.emulator.hub_content import HubContent
from infra.emulator.hub_repo import HubFile, HubRepo, RepoType, repo_key
from infra.emulator.hub_views import repo_info, tree

_CHUNK = 64 * 1024
_CORRUPT = bytes(range(256))[::-1]


class HubHandler(BaseHTTPRequestHandler):
    """One connection to the local hub; `server.hub` is the content it serves."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    @property
    def hub(self) -> HubContent:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `FakeHub.requests` instead."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    # -- routing -----------------------------------------------------------------------------

    def _dispatch(self, head: bool) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        parts = split.path.split("/")[1:]  # raw segments: a revision may hold an encoded '/'
        self.hub.record(self.command, split.path)
        try:
            kinds = {"models": "model", "datasets": "dataset"}
            if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in kinds:
                repo_type = cast(RepoType, kinds[parts[1]])
                self._api(repo_key(unquote(parts[2]) + "/" + unquote(parts[3]), repo_type), parts[4:], query)
            elif parts[:1] == ["_cdn"] and len(parts) in (4, 5):
                dataset = len(parts) == 5 and parts[1] == "datasets"
                org, name = parts[-3], parts[-2]
                key = repo_key(unquote(org) + "/" + unquote(name), "dataset" if dataset else "model")
                self._cdn(key, parts[-1], head)
            elif parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
                path = "/".join(unquote(p) for p in parts[5:])
                key = repo_key(unquote(parts[1]) + "/" + unquote(parts[2]), "dataset")
                self._resolve(key, unquote(parts[4]), path, head)
            elif len(parts) >= 5 and parts[2] == "resolve":
                path = "/".join(unquote(p) for p in parts[4:])
                self._resolve(unquote(parts[0]) + "/" + unquote(parts[1]), unquote(parts[3]), path, head)
            else:
                self._error(404, "NotFound", f"no route for {split.path}")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _repo_or_error(self, key: str) -> HubRepo | None:
        repo = self.hub.repo(key)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        token = self.hub.token
        # Gating is per model repo here; the datasets served (openai/gsm8k) are public on the Hub.
        if token is not None and repo.repo_type == "model":
            repo_id = repo.repo_id
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                msg = (
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in."
                )
                self._error(401, "GatedRepo", msg)
                return None
            if auth.removeprefix("Bearer ") != token:
                msg = f"Access to model {repo_id} is restricted and you are not in the authorized list."
                self._error(403, "GatedRepo", msg)
                return None
        return repo

    def _api(self, key: str, rest: list[str], query: dict[str, str]) -> None:
        repo = self._repo_or_error(key)
        if repo is None:
            return
        if not rest or (len(rest) == 2 and rest[0] == "revision"):
            revision = unquote(rest[1]) if rest else "main"
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            gated = self.hub.token is not None and repo.repo_type == "model"
            self._json(200, repo_info(repo, sha, blobs=_truthy(query.get("blobs")), gated=gated))
        elif len(rest) >= 2 and rest[0] == "tree":
            revision = unquote(rest[1])
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            prefix = "/".join(unquote(p) for p in rest[2:]).strip("/")
            entries = tree(repo.commits[sha], prefix, recursive=_truthy(query.get("recursive")))
            if entries is None:
                self._error(404, "EntryNotFound", f"{prefix} does not exist on {revision}")
                return
            self._json(200, entries)
        else:
            self._error(404, "NotFound", "unknown API route")

    def _resolve(self, key: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo_or_error(key)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        hub_file = repo.commits[sha].get(path)
        if hub_file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist", commit=sha)
            return
        if hub_file.lfs:
            port = self.connection.getsockname()[1]  # the hub's own port: the CDN shares its server
            location = f"http://{self.hub.cdn_host}:{port}/_cdn/{quote(key)}/{hub_file.sha256}"
            body = b"Found. Redirecting to " + location.encode()
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("ETag", f'"{hub_file.blob_id}"')
            self.send_header("X-Linked-Etag", f'"{hub_file.sha256}"')
            self.send_header("X-Linked-Size", str(len(hub_file.data)))
            self.send_header("X-Repo-Commit", sha)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        self._content(repo, hub_file, head, extra={"ETag": f'"{hub_file.blob_id}"', "X-Repo-Commit": sha})

    def _cdn(self, key: str, sha256: str, head: bool) -> None:
        repo = self.hub.repo(key)
        matches = [
            f
            for commit in (repo.commits.values() if repo else [])
            for f in commit.values()
            if f.sha256 == sha256
        ]
        if repo is None or not matches:
            self._error(404, "NotFound", "no such object")
            return
        self._content(repo, matches[0], head, extra={"ETag": f'"{sha256}"'}, paths=[f.path for f in matches])

    # -- responses ---------------------------------------------------------------------------

    def _content(
        self,
        repo: HubRepo,
        hub_file: HubFile,
        head: bool,
        extra: dict[str, str],
        paths: list[str] | None = None,
    ) -> None:
        size = len(hub_file.data)
        start, end = 0, size
        byte_range = _parse_range(self.headers.get("Range"), size)
        if byte_range == "invalid":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if byte_range is not None:
            start, end = byte_range
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return
        payload = hub_file.data[start:end]
        fault = self.hub.take_fault(repo.key, paths or [hub_file.path])
        if fault == "corrupt":
            payload = payload.translate(_CORRUPT)
        elif fault == "truncate":
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        seconds = self.hub.seconds_to_send(repo, hub_file, len(payload))
        for offset in range(0, len(payload), _CHUNK):
            chunk = payload[offset : offset + _CHUNK]
            if seconds:
                time.sleep(seconds * len(chunk) / len(payload))
            self.wfile.write(chunk)
            self.hub.count(repo.key, len(chunk))
        self.wfile.flush()

    def _json(self, status: int, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit is not None:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["invalid"] | None:
    """A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range as [start, end); None means the whole file."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").partition("-")
    try:
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start, end = int(first), (min(int(last) + 1, size) if last else size)
    except ValueError:
        return None
    if start >= size or start >= end:
        return "invalid"
    return start, end
