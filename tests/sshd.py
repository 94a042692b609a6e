"""A real OpenSSH server (Debian's /usr/sbin/sshd) on 127.0.0.1 for tests, with an nvidia-smi stand-in.

The stand-in prints outputs captured on a real H200 (shared/fixtures/gpu/h200) and comes first on PATH
for every command run over SSH. Needs the `openssh-server` package; sshd runs as the current user (root).
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
# Exactly the query GpuPreflight issues; any other arguments make the stand-in fail loudly.
NOHEADER_QUERY = (
    "--query-gpu=index,name,memory.total,driver_version,compute_cap --format=csv,noheader,nounits"
)
HEADER_QUERY = (
    "--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,driver_version,pci.bus_id,"
    "compute_cap,power.limit,clocks.max.sm,clocks.max.memory,temperature.gpu,"
    "ecc.errors.uncorrected.volatile.total --format=csv"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> tuple[str, str]:
    """A key pair written by OpenSSH's own ssh-keygen: (private key text, public key line)."""
    for stale in (path, path.with_suffix(".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        [str(SSH_KEYGEN), "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.read_text(), Path(f"{path}.pub").read_text().strip()


def _openssh_version() -> tuple[int, int]:
    banner = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True).stderr
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", banner)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _descendants(pid: int) -> list[int]:
    """Children of pid, recursively, read from /proc (sshd's per-connection processes call setsid)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class SshServer:
    """One sshd in its own directory: host key, authorized keys, config, log and the stand-in bin/."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, fixtures: Path, gpu_count: int = 1) -> None:
        if not SSHD.exists() or not SSH_KEYGEN.exists():
            raise RuntimeError("OpenSSH is missing: apt-get install -y openssh-server openssh-client")
        self.workdir = workdir
        self.fixtures = fixtures
        self.port = free_port()
        self.user = getpass.getuser()
        self.log_path = workdir / "sshd.log"
        self.bin_dir = workdir / "bin"
        self._process: subprocess.Popen[bytes] | None = None
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.host_key_path = workdir / "ssh_host_ed25519_key"
        self.new_host_key()
        self.client_key, client_public = keygen(workdir / "client_ed25519")
        self.authorized_keys = workdir / "authorized_keys"
        self.authorized_keys.write_text(client_public + "\n")
        self.set_gpu_count(gpu_count)

    def new_host_key(self) -> None:
        """Replace the server's host key (takes effect at the next start)."""
        keygen(self.host_key_path)

    def authorize(self, public_line: str) -> None:
        """Accept one more client key; sshd reads the file on every login."""
        with self.authorized_keys.open("a") as handle:
            handle.write(public_line.strip() + "\n")

    def set_gpu_count(self, count: int) -> None:
        """Rewrite the nvidia-smi stand-in to list `count` copies of the captured H200."""
        fixtures = shlex.quote(str(self.fixtures))
        script = f"""#!/bin/sh
# nvidia-smi stand-in: prints what a real H200 printed (see shared/fixtures/gpu/h200/README.md).
fixtures={fixtures}
count={count}
case "$*" in
  "{NOHEADER_QUERY}")
    i=0; while [ "$i" -lt "$count" ]; do sed "s/^0,/$i,/" "$fixtures/query-gpu-noheader.csv"; i=$((i+1)); done ;;
  "{HEADER_QUERY}")
    head -n 1 "$fixtures/query-gpu.csv"
    i=0; while [ "$i" -lt "$count" ]; do tail -n +2 "$fixtures/query-gpu.csv" | sed "s/^0,/$i,/"; i=$((i+1)); done ;;
  "-L") i=0; while [ "$i" -lt "$count" ]; do sed "s/^GPU 0:/GPU $i:/" "$fixtures/nvidia-smi-L.txt"; i=$((i+1)); done ;;
  "") cat "$fixtures/nvidia-smi.txt" ;;
  *) echo "nvidia-smi stand-in: no captured output for: $*" >&2; exit 2 ;;
esac
"""
        path = self.bin_dir / "nvidia-smi"
        path.write_text(script)
        path.chmod(0o755)

    def _write_config(self) -> Path:
        path = self.workdir / "sshd_config"
        lines = [
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "LogLevel VERBOSE",
            # Put the stand-in first for commands run over SSH; sshd applies SetEnv after its default PATH.
            f"SetEnv PATH={self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        if _openssh_version() >= (9, 8):
            # Newer sshd penalises sources after failed logins; the tests fail logins on purpose.
            lines.append("PerSourcePenalties no")
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 120.0) -> None:
        """Start sshd in the foreground (-D) and wait until it answers with an SSH banner."""
        config = self._write_config()
        # sshd refuses to start without its privilege separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._process.returncode}:\n{self.log()}")
            if self._banner():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"sshd did not answer on {self.host}:{self.port} within {timeout} s:\n{self.log()}"
        )

    def _banner(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=10.0) as sock:
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill sshd and every live session it forked, so open connections drop too."""
        if self._process is None:
            return
        process, self._process = self._process, None
        for pid in [*_descendants(process.pid), process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        process.wait(timeout=120)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def failed_logins(self, at_least: int = 0, timeout: float = 60.0) -> int:
        """How many public-key logins sshd refused, from its log; waits a while for `at_least` to show up."""
        deadline = time.monotonic() + timeout
        while True:
            count = len(re.findall(r"^Failed publickey for ", self.log(), flags=re.MULTILINE))
            if count >= at_least or time.monotonic() >= deadline:
                return count
            time.sleep(0.05)
