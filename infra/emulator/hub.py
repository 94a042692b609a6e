"""A local stand-in for the Hugging Face Hub, so the real `huggingface_hub` client can be tested offline.

`FakeHub` is the server on 127.0.0.1; its parts, one concept each:

    hub_content.py     the repos it serves, their faults and its counters (what a test sets and reads)
    hub_repo.py        a repo's commits and refs, each file with the ids the Hub reports (blob id, sha256)
    hub_http.py        the routes `huggingface_hub` 2.4.0 uses to download a snapshot, and their answers
    hub_views.py       the JSON bodies of the API: repo info and tree listings
    hub_checkpoint.py  a tiny DeepSeek-V4-shaped checkpoint (valid safetensors shards)
    hub_gsm8k.py       a small dataset in `openai/gsm8k`'s real layout (`add_gsm8k`)

The CDN answers on `cdn_host` (default `localhost`), a different origin from `127.0.0.1`, so the client
treats it as the Hub treats its CDN: it stops at the redirect and drops the Authorization header. No Xet
headers are ever sent, so the client falls back to plain HTTP downloads.
"""

from __future__ import annotations

import threading
from types import TracebackType

from infra.emulator.hub_checkpoint import fake_checkpoint_files
from infra.emulator.hub_content import BreakMode, HubContent
from infra.emulator.hub_gsm8k import gsm8k_files
from infra.emulator.hub_http import HubHandler
from infra.emulator.hub_repo import LFS_MIN_BYTES, LFS_PATTERNS, HubFile, RepoType, git_blob_id
from infra.emulator.quiet_server import QuietThreadingHTTPServer

# The hub's values and generators, importable from here as before the split.
__all__ = [
    "LFS_MIN_BYTES",
    "LFS_PATTERNS",
    "BreakMode",
    "FakeHub",
    "HubFile",
    "RepoType",
    "fake_checkpoint_files",
    "git_blob_id",
    "gsm8k_files",
]


class FakeHub(HubContent):
    """A Hugging Face Hub on 127.0.0.1 serving the repos registered with `add_repo` (see `HubContent`)."""

    def __init__(
        self,
        port: int = 0,
        token: str | None = None,
        *,
        throttle_bytes_per_second: float | None = None,
        time_scale: float = 1.0,
        cdn_host: str = "localhost",
    ) -> None:
        super().__init__(
            token,
            throttle_bytes_per_second=throttle_bytes_per_second,
            time_scale=time_scale,
            cdn_host=cdn_host,
        )
        self._server = QuietThreadingHTTPServer(("127.0.0.1", port), HubHandler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint to give the client (`HF_ENDPOINT` or `endpoint=`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-hub", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
