"""Argument parsing that refuses bad flags in one line: bounded numbers and a one-line usage error."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from infra.config import shown
from infra.errors import ConfigError, exit_code


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block on a bad flag; this prints one line and exits like a ConfigError."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        print(f"error: {self.prog}: {text} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(exit_code(ConfigError("")))


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer flag between `low` and `high` inclusive."""

    def convert(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {shown(text)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    convert.__name__ = "integer"
    return convert


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number flag between `low` and `high` (`low` itself excluded with `low_open`)."""

    def convert(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {shown(text)}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bound = f"above {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound} and at most {high:g}, got {shown(text)}")
        return value

    convert.__name__ = "number"
    return convert


def path_arg(text: str) -> Path:
    """A path flag: no control characters (a NUL cannot be a path; a newline breaks every message about it)."""
    if not text or not text.isprintable():
        raise argparse.ArgumentTypeError(f"must be a path of printable characters, got {shown(text)}")
    return Path(text)


def word_arg(text: str) -> str:
    """A flag that lands in a generated file (a Git URL, a path, a revision): printable, no spaces."""
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"must be printable without spaces, got {shown(text)}")
    return text
