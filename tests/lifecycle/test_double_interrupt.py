"""Two real Ctrl-C (SIGINT) during the teardown of `v4infra validate flash-4xh200 --rehearse` (issue 22).

Before, the second press abandoned the GPU pod: `validate` exited 130 within a second with "teardown
interrupted", the pod kept billing until its time-to-live and no report was written. Now each press
during teardown says what is still being removed and until when it would bill, and teardown carries on:
the run ends with nothing billed at the emulator and its report written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from infra.config import project_root

pytestmark = pytest.mark.engine
STACK = "flash-4xh200"
EVENT = re.compile(r"^\s*\d+\.\ds (?P<text>.*)$")


class Validate:
    """`v4infra validate STACK --rehearse` in a subprocess; its output lines collected as they arrive."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra", "validate", STACK, "--rehearse"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def wait_for(self, text: str, times: int, timeout: float) -> None:
        """Until `text` has appeared on `times` lines (or the process ended)."""
        with self._seen:
            self._seen.wait_for(lambda: self.count(text) >= times or self.proc.poll() is not None, timeout)
            assert self.count(text) >= times, f"never saw {text!r} {times}x:\n{self.output}"

    @property
    def output(self) -> str:
        with self._seen:
            return "".join(self.lines)


@pytest.mark.timeout(1200)  # a whole rehearsal, on a busy machine
def test_two_ctrl_c_during_teardown_leave_nothing_billed_and_the_report_written(tmp_path: Path) -> None:
    if shutil.which("pulumi") is None:
        pytest.fail("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`", pytrace=False)
    drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "RUNPOD_API_KEY", "HF_TOKEN", "CI")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        V4INFRA_ROOT=str(project_root()),
        V4INFRA_STATE_DIR=str(tmp_path / "state"),
        PULUMI_CONFIG_PASSPHRASE="double-interrupt-tests",
        COLUMNS="300",
    )
    run = Validate(env, tmp_path)
    try:
        run.wait_for(f"teardown: destroying {STACK}", 1, timeout=900)
        for press in (1, 2):
            run.proc.send_signal(signal.SIGINT)
            # Each press is answered at once, while `pulumi destroy` is still running.
            run.wait_for("teardown carries on, still removing", press, timeout=60)
        code = run.proc.wait(timeout=600)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    output = run.output
    events = [m.group("text") for line in output.splitlines() if (m := EVENT.match(line))]
    warned = [e for e in events if "teardown carries on" in e]
    assert len(warned) == 2, output
    # The GPU pod is named, with the hour its time-to-live would end its billing.
    assert "pod v4i-" in warned[1] and re.search(r"until its time-to-live at \d\d:\d\d UTC", warned[1]), (
        warned
    )
    assert "A third Ctrl-C stops it" in warned[1], warned
    assert "teardown stopped" not in output and "Traceback" not in output, output
    assert code == 0, output  # nothing was stopped: the run finished, its stages all passed
    assert any("emulator inventory after teardown: 0 pod(s) live" in e for e in events), output
    (report,) = tmp_path.glob(f"reports/{STACK}/*/report.json")
    data = json.loads(report.read_text())
    assert data["teardown"]["ok"] is True and data["teardown"]["leftover"] == [], data["teardown"]
