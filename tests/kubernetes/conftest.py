"""Fixtures of the Kubernetes tests (the local control plane's is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from conftest_mocks import Recorder, install_recorder


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Mocks that also keep each registration's parent, dependencies and raw (secret-marked) inputs."""
    return install_recorder(monkeypatch)
