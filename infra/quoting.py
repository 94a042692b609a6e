"""A user's value or a foreign message made fit for one printed line: quoted, escaped, cut short."""

from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 80) -> str:
    """A user's value as it goes into a one-line message: quoted, control characters escaped, cut short."""
    text = repr(value) if not isinstance(value, str) else f"'{value}'" if value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """A message from elsewhere (a catalog lookup, a parser) with its control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
