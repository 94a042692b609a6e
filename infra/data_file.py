"""One of the fact files in `infra/data/*.yaml`, read from the installed package."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed file; cached, because the facts do not change while a process runs."""
    text = resources.files("infra.data").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError(f"infra/data/{name} is not a mapping")
    return data
