"""Ports as RunPod declares them on pods and clusters alike (`8000/http`, `22/tcp`)."""

from __future__ import annotations

from collections.abc import Iterable


def port_problems(ports: Iterable[str]) -> list[str]:
    """What is wrong with declared ports (RunPod takes `NUMBER/http` or `NUMBER/tcp`)."""
    return [
        f"port {port!r} is not NUMBER/http or NUMBER/tcp"
        for port in ports
        if not port.partition("/")[0].isdigit() or port.partition("/")[2] not in ("http", "tcp")
    ]
