"""Wait for the engine's /health within the load budget, tailing its log; when it fails, say why in one line."""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from infra.ssh import CommandRunner, SshError
from infra.startup_log import parse as parse_startup
from infra.validate.diagnosis import Diagnosis, diagnose
from infra.validate.redact import Redactor
from infra.validate.stages import StageResult

STAGE = "engine-health"
# The project's start scripts write this line when the engine process ends (templates/runpod).
_EXITED = re.compile(r"v4infra: engine exited with status (?P<status>-?\d+)")
_OWN_LINE = re.compile(r"^v4infra: ")
_STARTING = re.compile(r"^v4infra: (node \S+ \(\w+\) )?starting ")
# Lines kept for diagnosis; a crash prints its root cause within the last few hundred lines.
_KEPT_LINES = 2000
_SHOWN_LINES = 20
_MAX_LINE = 300


@dataclass
class LogSource:
    """New lines of a log file on the pod, read over a CommandRunner from a tracked byte offset.

    Only complete lines are returned; a partial last line waits for its newline. A file that
    shrank (rotated or rewritten) is read again from the start.
    """

    runner: CommandRunner
    path: str
    chunk_bytes: int = 256 * 1024
    timeout: float = 15.0
    offset: int = field(default=0, init=False)

    def read_new(self) -> list[str]:
        """Lines appended since the last call; [] while the file does not exist yet."""
        quoted = shlex.quote(self.path)
        # base64 keeps the bytes exact, so the offset never drifts on invalid UTF-8 or a cut character.
        command = (
            f"[ -f {quoted} ] || exit 0; wc -c < {quoted}; "
            f"tail -c +{self.offset + 1} {quoted} | head -c {self.chunk_bytes} | base64 | tr -d '\\n'"
        )
        result = self.runner.run(command, timeout=self.timeout)
        if not result.ok:
            raise OSError(f"reading {self.path} failed with status {result.exit_status}")
        size_text, _, encoded = result.stdout.strip().partition("\n")
        if not size_text.strip():
            return []
        size = int(size_text.strip())
        if size < self.offset:
            self.offset = 0
            return self.read_new()
        try:
            data = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise OSError(f"reading {self.path} returned garbled data") from exc
        cut = data.rfind(b"\n") + 1
        # A single line longer than a whole chunk is taken as it is rather than waiting forever.
        if cut == 0 and len(data) >= self.chunk_bytes:
            cut = len(data)
        self.offset += cut
        return [line.rstrip("\r") for line in data[:cut].decode(errors="replace").splitlines()]


def _short(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _budget_text(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _probe(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        # Refused, reset or timed out while the engine loads: not healthy yet.
        return False


@dataclass
class _Watch:
    """What the log told us so far."""

    redactor: Redactor
    on_log_line: Callable[[str], None] | None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=_KEPT_LINES))
    exit_status: int | None = None
    log_error: str | None = None

    def take(self, log: LogSource | None) -> bool:
        """Read new log lines; True when there were any."""
        if log is None:
            return False
        try:
            new = log.read_new()
        except (SshError, OSError, ValueError) as exc:
            # A flaky read is not an engine failure; the pod's liveness is checked separately.
            self.log_error = self.redactor.text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        for raw in new:
            line = self.redactor.text(raw)
            self.lines.append(line)
            exited = _EXITED.search(line)
            if exited is not None:
                self.exit_status = int(exited.group("status"))
            if self.on_log_line is not None:
                self.on_log_line(line)
        return bool(new)

    def latest_start(self) -> list[str]:
        """The lines of the engine's latest start: the log on a kept volume also holds earlier runs', and the
        start scripts mark each start with a `v4infra: starting` line (templates/runpod)."""
        lines = list(self.lines)
        starts = [i for i, line in enumerate(lines) if _STARTING.match(line.strip())]
        return lines[starts[-1] :] if starts else lines

    def last_engine_line(self) -> str | None:
        for line in reversed(self.lines):
            if line.strip() and not _OWN_LINE.match(line.strip()):
                return _short(line)
        return None

    def details(
        self, diagnosis: Diagnosis | None, healthy_after: float | None, engine: tuple[str, str] | None = None
    ) -> dict[str, object]:
        # The engine's own start-up lines, parsed (infra/startup_log.py): the report's measured phases.
        startup = None if engine is None else asdict(parse_startup("\n".join(self.latest_start()), *engine))
        return {
            "startup_log": startup,
            "seconds_to_healthy": None if healthy_after is None else round(healthy_after, 3),
            "last_log_lines": [_short(line) for line in list(self.lines)[-_SHOWN_LINES:]],
            "diagnosis": None if diagnosis is None else diagnosis.signature,
            "diagnosis_line": None if diagnosis is None else diagnosis.line,
            "exit_status": self.exit_status,
            "log_error": self.log_error,
        }


def wait_for_engine(
    endpoint: str,
    api_key: str,
    *,
    log: LogSource | None,
    budget_seconds: float,
    poll_seconds: float = 5.0,
    engine_alive: Callable[[], bool] | None = None,
    on_log_line: Callable[[str], None] | None = None,
    engine: tuple[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> StageResult:
    """Poll `{endpoint}/health` until it answers 200, the engine exits, the pod dies or the budget runs out."""
    started = clock()
    deadline = started + budget_seconds
    watch = _Watch(Redactor([api_key]), on_log_line)
    diagnosis: Diagnosis | None = None
    # A matched signature fails the stage only if /health is still down on the poll after it appeared.
    suspect = False
    url = endpoint.rstrip("/") + "/health"
    timeout = httpx.Timeout(min(10.0, max(poll_seconds, 1.0)), connect=min(5.0, max(poll_seconds, 1.0)))
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def result(passed: bool, reason: str, healthy_after: float | None = None) -> StageResult:
        return StageResult(
            STAGE, passed, clock() - started, _short(reason), watch.details(diagnosis, healthy_after, engine)
        )

    with httpx.Client(timeout=timeout, headers=headers) as client:
        while True:
            if watch.take(log):
                diagnosis = diagnose(watch.lines)
            if _probe(client, url):
                # Lines written just before /health came up belong in the progress display too.
                watch.take(log)
                elapsed = clock() - started
                return result(True, f"engine healthy after {elapsed:.1f} s", elapsed)
            if watch.exit_status is not None:
                if diagnosis is not None:
                    return result(False, diagnosis.one_line())
                last = watch.last_engine_line()
                return result(
                    False,
                    f"engine exited with status {watch.exit_status}" + (f": {last}" if last else ""),
                )
            if diagnosis is not None:
                if suspect:
                    return result(False, diagnosis.one_line())
                suspect = True
            if engine_alive is not None and not engine_alive():
                watch.take(log)
                diagnosis = diagnose(watch.lines)
                cause = f": {diagnosis.one_line()}" if diagnosis else _last_line_note(watch)
                return result(False, "the pod stopped while the engine was loading" + cause)
            now = clock()
            if now >= deadline:
                cause = f": {diagnosis.one_line()}" if diagnosis else _last_line_note(watch)
                return result(False, f"engine not healthy after {_budget_text(budget_seconds)}{cause}")
            sleep(max(0.0, min(poll_seconds, deadline - now)))


def _last_line_note(watch: _Watch) -> str:
    last = watch.last_engine_line()
    return f" (last log line: {last})" if last else " (no engine log lines seen)"
