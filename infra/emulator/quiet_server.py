"""The emulator's HTTP servers: threaded, loopback, and silent when a client hangs up mid-request."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that disconnects (a finished stream, a cancelled poll) is normal, not a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError | TimeoutError):
            return
        super().handle_error(request, client_address)
