"""Shared pytest fixtures."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube import delete_namespace, start_local_cluster
from paths import H200_FIXTURES
from sshd import SshServer

from infra.emulator.local_cluster import LocalCluster


# Under `pytest -n N --dist loadgroup` (make test): a file is one group, so its module fixtures are set up
# once; every `kube` test is one group, so one worker starts the session's control plane and no two
# control planes share a 2-core machine. Tryfirst: xdist reads the marks in its own modifyitems hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = "kube" if item.get_closest_marker("kube") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def isolated_evidence(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's evidence file is its own (XDG_DATA_HOME): an emulated run never teaches the user's planner."""
    data_home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    return data_home


@pytest.fixture
def namespace(kube_cluster: LocalCluster) -> Iterator[str]:
    """A namespace of the test's own on the session's control plane, deleted after."""
    name = f"v4i-test-{secrets.token_hex(3)}"
    kube_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        delete_namespace(kube_cluster, name)


# --- Real OpenSSH server (tests/sshd.py) --------------------------------------------------------------
# Debian's sshd on 127.0.0.1 with an nvidia-smi stand-in that prints the captured H200 outputs.


@pytest.fixture
def sshd_server(tmp_path: Path) -> Iterator[SshServer]:
    """A running sshd listing one H200; stopped (with its sessions) at teardown."""
    server = SshServer(tmp_path / "sshd", fixtures=H200_FIXTURES, gpu_count=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    """A per-test known_hosts file, as a stack would have one."""
    return tmp_path / "state" / "known_hosts"


# --- end of the OpenSSH server section -----------------------------------------------------------------


# --- Local Kubernetes control plane (tests/kube.py) ----------------------------------------------------
# etcd, kube-apiserver, controller manager, scheduler and kwok with fake 8-GPU H100/H200 nodes.


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's local control plane; tests mark themselves `@pytest.mark.kube`."""
    yield from start_local_cluster(tmp_path_factory.mktemp("kube"))


# --- end of the Kubernetes section ---------------------------------------------------------------------
