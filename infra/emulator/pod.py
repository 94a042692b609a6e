"""An emulated pod's container: its start command running for real in a sandbox on loopback.

The API server builds a `PodLaunch` from a create request and drives a `PodRuntime`: `start()`
maps each declared port to a free loopback port and runs dockerArgs with bash in a new process
group; `kill()` stops the container and everything it started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from infra.emulator.clock import Clock
from infra.emulator.models import image_entrypoint, version_text, vllm_version_of_image
from infra.emulator.sandbox import SANDBOX_ENV, Sandbox

# What runpod/* base images run without dockerArgs: sshd when PUBLIC_KEY is set, then idle.
_DEFAULT_START = (
    'if [ -n "$PUBLIC_KEY" ]; then mkdir -p ~/.ssh && chmod 700 ~/.ssh && '
    'echo "$PUBLIC_KEY" >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys && sshd; fi; '
    "exec sleep infinity"
)
_STOP_GRACE_SECONDS = 3.0


@dataclass
class PodLaunch:
    """Everything the container needs, as the API server received it."""

    pod_id: str
    name: str
    image: str
    gpu_type_id: str | None
    """None for CPU pods."""
    gpu_count: int
    docker_args: str
    """The container start command; run as `bash -c docker_args`."""
    env: dict[str, str]
    """Pod env incl. RUNPOD_* and EMULATOR_* variables."""
    volume_dir: Path | None
    """Local directory standing for the mounted network volume."""
    volume_mount_path: str
    ports: list[str]
    """Declared ports such as "8000/http", "22/tcp"."""
    image_entrypoint: bool = False
    """True: dockerArgs are arguments to the image's ENTRYPOINT, as RunPod does (runpod-python#338)."""


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _pod_processes(sandbox_root: Path) -> list[int]:
    """Pids of processes carrying this pod's sandbox marker, including strays outside its group."""
    marker = f"{SANDBOX_ENV}={sandbox_root}\0".encode()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def _listening_inodes(ports: set[int]) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) in ports:
                    inodes.add(fields[9])
    return inodes


def _kill_listeners(ports: set[int], sandbox_root: Path) -> None:
    """SIGKILL this pod's processes (its sandbox marker) holding a listening socket on `ports`, and wait.

    A listener without the marker is left alone: once the pod's own process let a port go, anyone
    (a Pulumi engine's gRPC server, another emulator's pod) may have been given it by the kernel."""
    marker = f"{SANDBOX_ENV}={sandbox_root}\0".encode()
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while ports and time.monotonic() < deadline:
        inodes = _listening_inodes(ports)
        if not inodes:
            return
        wanted = {f"socket:[{inode}]" for inode in inodes}
        holders = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes() and any(
                    os.readlink(fd) in wanted for fd in (entry / "fd").iterdir()
                ):
                    holders.append(int(entry.name))
        if not holders:
            return
        _signal_pids(holders, signal.SIGKILL)
        time.sleep(0.05)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _signal_pids(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class PodRuntime:
    """One pod's container process tree, its port map and its log."""

    def __init__(
        self,
        launch: PodLaunch,
        sandbox_dir: Path,
        clock: Clock,
        load_seconds: float,
        engine_fault: str | None,
    ) -> None:
        self.launch = launch
        self.clock = clock
        self.load_seconds = load_seconds
        self.engine_fault = engine_fault
        self.sandbox = Sandbox.create(
            sandbox_dir, launch.volume_dir, launch.volume_mount_path, gpu=launch.gpu_type_id is not None
        )
        if launch.gpu_type_id is not None:
            self.sandbox.write_vllm_package(version_text(vllm_version_of_image(launch.image)))
        self.started_at: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port_map: dict[int, int] = {}
        self._log: IO[bytes] | None = None
        self._stopped = False
        self._read_offset = 0
        self._partial = b""

    @property
    def port_map(self) -> dict[int, int]:
        """Container port -> loopback port, as RunPod's runtime.ports maps private to public ports."""
        return dict(self._port_map)

    def container_env(self) -> dict[str, str]:
        """The pod env before path translation: launch env plus the ports and emulator wiring."""
        launch = self.launch
        env = dict(launch.env)
        env.setdefault("RUNPOD_POD_ID", launch.pod_id)
        env.setdefault("RUNPOD_PUBLIC_IP", "127.0.0.1")
        env.setdefault("RUNPOD_GPU_COUNT", str(launch.gpu_count if launch.gpu_type_id else 0))
        env.setdefault("EMULATOR_IMAGE", launch.image)
        if launch.gpu_type_id:
            env.setdefault("EMULATOR_GPU_TYPE", launch.gpu_type_id)
            env.setdefault("EMULATOR_GPU_COUNT", str(launch.gpu_count))
        env["EMULATOR_LOAD_SECONDS"] = str(self.load_seconds)
        env["EMULATOR_TIME_SCALE"] = str(self.clock.time_scale)
        env.pop("EMULATOR_ENGINE_FAULT", None)
        if self.engine_fault:
            env["EMULATOR_ENGINE_FAULT"] = self.engine_fault
        for private, local in self._port_map.items():
            env[f"EMULATOR_PORT_{private}"] = str(local)
        if 22 in self._port_map:
            env["RUNPOD_TCP_PORT_22"] = str(self._port_map[22])
        return env

    def command(self) -> list[str]:
        """The container's argv, container paths already translated to the sandbox."""
        docker_args = self.sandbox.path_map().translate(self.launch.docker_args.strip())
        entrypoint = image_entrypoint(self.launch.image) if self.launch.image_entrypoint else None
        if entrypoint:
            return [*entrypoint, *shlex.split(docker_args)]
        if not docker_args:
            return (
                ["vllm", "serve"] if image_entrypoint(self.launch.image) else ["bash", "-c", _DEFAULT_START]
            )
        return ["bash", "-c", docker_args]

    def start(self) -> None:
        """Map ports and run the start command; a running container is left as it is."""
        if self.is_alive():
            return
        if not self._port_map:
            # A restarted container keeps its port mappings (same machine); only a new pod gets new ones.
            private_ports = sorted({int(port.split("/")[0]) for port in self.launch.ports})
            self._port_map = dict(zip(private_ports, _free_ports(len(private_ports)), strict=True))
        # A restarted container starts without the pid files and GPU state of the previous run.
        for stale in self.sandbox.run_dir.iterdir():
            stale.unlink(missing_ok=True)
        env = self.sandbox.environment(self.container_env())
        argv = self.command()
        if argv[0] != "bash":
            argv[0] = str(self.sandbox.bin_dir / argv[0])
        if self._log is not None:
            self._log.close()
        self._log = self.sandbox.log_path.open("ab")
        self.started_at = self.clock.now()
        self._stopped = False
        self._process = subprocess.Popen(
            argv,
            cwd=self.sandbox.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def is_alive(self) -> bool:
        """Whether the container's main process runs; when it has exited, its strays are stopped too."""
        if self._process is None:
            return False
        if self._process.poll() is None:
            return True
        if not self._stopped:
            self._stop_strays()
        return False

    @property
    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def kill(self) -> None:
        """Stop the container: its process group, its sshd and any stray; idempotent."""
        if self._process is not None:
            _signal_group(self._process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
            _signal_group(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
        self._stop_strays()
        # A pod process that still listens on the pod's ports (forked after the marker scan) goes too.
        _kill_listeners(set(self.port_map.values()), self.sandbox.root)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _stop_strays(self) -> None:
        self._stopped = True
        if self._process is not None:
            _signal_group(self._process.pid, signal.SIGKILL)
        strays = _pod_processes(self.sandbox.root)
        if not strays:
            return
        _signal_pids(strays, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while strays and time.monotonic() < deadline:
            time.sleep(0.05)
            strays = _pod_processes(self.sandbox.root)
        _signal_pids(strays, signal.SIGKILL)
        # SIGKILL is asynchronous: wait until they are gone, so their ports are closed when kill() returns.
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while strays and time.monotonic() < deadline:
            time.sleep(0.02)
            strays = _pod_processes(self.sandbox.root)

    def read_output(self) -> list[str]:
        """Complete lines the container printed since the last call (across restarts: the log appends)."""
        try:
            with self.sandbox.log_path.open("rb") as log:
                log.seek(self._read_offset)
                data = log.read(1 << 20)
        except OSError:
            return []
        self._read_offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return [line.decode(errors="replace").rstrip("\r") for line in lines]

    def log_tail(self, n: int = 50) -> list[str]:
        """The last `n` lines the container printed."""
        try:
            with self.sandbox.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                end = log.tell()
                block = 8192
                data = b""
                while end > 0 and data.count(b"\n") <= n:
                    start = max(0, end - block)
                    log.seek(start)
                    data = log.read(end - start) + data
                    end = start
        except OSError:
            return []
        return data.decode(errors="replace").splitlines()[-n:]
