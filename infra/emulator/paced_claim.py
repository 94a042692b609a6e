"""The download Job's read-rate probe, run on this machine against a directory standing for the claim.

kwok runs no containers, so in a Kubernetes rehearsal the Job's probe never ran. This stand-in runs the
Job's own probe command (its arguments and the script the ConfigMap holds, as the API server has them)
over stand-in checkpoint files in a directory that reads at a shared-file-system rate: reads are paced as
in an emulated RunPod pod (volume_pace.py). The rate stands for the published RWX figure, vLLM reading
894 GiB from Amazon EFS in about 43 minutes with 16 ranks x 8 prefetch threads (modelplaneai/modelplane#204,
2026-06-18): 372 MB/s. The files' size and number are the stand-in's own.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from infra.emulator.hub import fake_checkpoint_files
from infra.emulator.volume_pace import DIR_ENV, RATE_ENV

CLAIM_READ_BYTES_PER_S = 372_064_027.0
PROBE_SCRIPT = "/scripts/read_rate_probe.py"
SHARDS, SHARD_BYTES = 4, 4 * 1024 * 1024


def probe_args(job_command: str) -> list[str] | None:
    """The probe's arguments in the Job's `sh -c` line; None when the Job runs no probe."""
    words = shlex.split(job_command)
    if PROBE_SCRIPT not in words:
        return None
    return words[words.index(PROBE_SCRIPT) + 1 :]


def run_job_probe(
    job_command: str, probe_source: str, directory: Path, mount: str, timeout: float = 120.0
) -> str:
    """What the Job's probe prints when the claim (mounted at `mount`) is `directory`, paced."""
    args = probe_args(job_command)
    if args is None:
        return ""
    local = [directory.as_posix() + a[len(mount) :] if a.startswith(mount + "/") else a for a in args]
    repo_dir = Path(local[-1])
    (repo_dir / "snapshots" / "rehearsal").mkdir(parents=True, exist_ok=True)
    repo = repo_dir.name.removeprefix("models--").replace("--", "/", 1)
    for name, data in fake_checkpoint_files(repo, SHARDS, SHARD_BYTES).items():
        (repo_dir / "snapshots" / "rehearsal" / name).write_bytes(data)
    pylib = directory / ".pylib"
    pylib.mkdir(parents=True, exist_ok=True)
    package = Path(__file__).resolve().parent
    (pylib / "sitecustomize.py").write_text(
        "import sys, types\n"
        f"for name, path in (('infra', {str(package.parent)!r}), ('infra.emulator', {str(package)!r})):\n"
        "    if name not in sys.modules:\n"
        "        sys.modules[name] = module = types.ModuleType(name)\n"
        "        module.__path__ = [path]\n"
        "from infra.emulator.volume_pace import install\ninstall()\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(pylib),
        RATE_ENV: str(CLAIM_READ_BYTES_PER_S),
        DIR_ENV: str(directory),
    }
    done = subprocess.run(
        [sys.executable, "-", *local],
        input=probe_source,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return done.stdout
