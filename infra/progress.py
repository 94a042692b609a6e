"""What a long-running command shows: one line per event, a live status line on a terminal, quiet in CI."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape

from infra.validate.redact import Redactor


@dataclass
class Progress:
    """Prints stage events; every line passes the redactor, so no secret reaches the screen or CI logs."""

    redactor: Redactor
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    started: float = field(default_factory=time.monotonic)

    @property
    def quiet(self) -> bool:
        return bool(os.environ.get("CI")) or not self.console.is_terminal

    def event(self, text: str, style: str = "") -> None:
        elapsed = time.monotonic() - self.started
        self.console.print(
            f"[dim]{elapsed:7.1f}s[/dim] " + self.redactor.text(text), style=style or None, markup=True
        )

    @contextlib.contextmanager
    def live(self, label: str) -> Iterator[Callable[[str], None]]:
        """A spinner with the latest line (engine output, engine log) on a terminal; nothing in CI or pipes."""
        if self.quiet:
            yield lambda line: None
            return
        with self.console.status(label) as status:

            def update(line: str) -> None:
                status.update(f"{label}: [dim]{escape(self.redactor.text(line.strip())[:110])}[/dim]")

            yield update

    def detail(self, text: str) -> None:
        """Chatty lines (engine log, download progress): shown on a terminal, skipped in CI."""
        if not self.quiet:
            self.console.print("          [dim]" + self.redactor.text(text)[:160] + "[/dim]")
