"""A network volume's read rate inside an emulated pod: reads of files on the volume are paced.

A pod's volume is a local directory, read at the host's disk (or page-cache) speed, so a probe in a
rehearsal would measure this machine, not a RunPod volume. The sandbox's `sitecustomize` installs this pacer
in every Python process of a pod that mounts a volume: `os.read`, `os.pread`, `os.readv` and `os.preadv` of a
file under the volume directory wait until the volume, serving at most `EMULATOR_VOLUME_BYTES_PER_S` bytes
per second in total (all readers of the process share it), would have delivered them. The rate stands for
the published figure of the volume's tier (`catalog.VOLUME_READ_BYTES_PER_S`, with its source); it runs in
real time, so a probe's own clock measures it. Other reads (the container disk, sockets) are not paced.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

RATE_ENV = "EMULATOR_VOLUME_BYTES_PER_S"
DIR_ENV = "EMULATOR_VOLUME_DIR"
# A read that starts within this of the previous one's delivery continues its stream (the reader's own
# overhead is absorbed rather than added); after a longer pause the volume starts afresh, with no credit.
SLACK_SECONDS = 0.001


class Pacer:
    """A shared schedule: the instant the volume would have delivered every byte asked so far."""

    def __init__(self, bytes_per_s: float, directory: str) -> None:
        self.bytes_per_s = bytes_per_s
        self.directory = os.path.realpath(directory).rstrip("/") + "/"
        self._due = 0.0
        self._lock = threading.Lock()

    def on_volume(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.directory)
        except OSError:
            return False

    def pace(self, nbytes: int) -> None:
        if nbytes <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = self._due if now - self._due <= SLACK_SECONDS else now
            self._due = start + nbytes / self.bytes_per_s
            wait = self._due - now
        if wait > 0:
            time.sleep(wait)


def _wrap(pacer: Pacer, read: Callable[..., Any]) -> Callable[..., Any]:
    def paced(fd: int, *args: Any) -> Any:
        result = read(fd, *args)
        if pacer.on_volume(fd):
            pacer.pace(result if isinstance(result, int) else len(result))
        return result

    return paced


def install(environ: os._Environ[str] | dict[str, str] | None = None) -> Pacer | None:
    """Pace this process's reads of the volume when the pod's environment says at what rate."""
    env = os.environ if environ is None else environ
    rate, directory = env.get(RATE_ENV), env.get(DIR_ENV)
    if not rate or not directory or not hasattr(os, "preadv"):
        return None
    pacer = Pacer(float(rate), directory)
    for name in ("read", "pread", "readv", "preadv"):
        setattr(os, name, _wrap(pacer, getattr(os, name)))
    return pacer
