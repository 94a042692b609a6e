"""A pod's container filesystem, emulated as a directory: container paths -> sandbox paths.

A pod cannot own `/workspace` or `/root` on the host, so the emulator rewrites those paths
(in the start command, env values, and commands run over SSH) to directories in the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PATH_MAP_ENV = "EMULATOR_PATH_MAP"
# Marks every process of a pod, so that kill() can find strays that left its process group.
SANDBOX_ENV = "EMULATOR_SANDBOX"
# Where the pod's volume is on this machine, for the read pacer (infra/emulator/volume_pace.py DIR_ENV).
VOLUME_DIR_ENV = "EMULATOR_VOLUME_DIR"

# Absolute paths of the stand-ins in a real container, rewritten to the sandbox's shims.
_TOOL_PATHS = {
    "/usr/sbin/sshd": "sshd",
    "/usr/bin/nvidia-smi": "nvidia-smi",
    "/usr/local/bin/vllm": "vllm",
    "/usr/bin/ssh-keygen": "ssh-keygen",
    "/usr/bin/apt-get": "apt-get",
}
_GPU_TOOLS = ("vllm", "nvidia-smi")
_SHIMS = {
    "sshd": "infra.emulator.fake_sshd",
    "vllm": "infra.emulator.fake_vllm",
    "nvidia-smi": "infra.emulator.fake_nvidia_smi",
    "ssh-keygen": "infra.emulator.fake_tools",
    "apt-get": "infra.emulator.fake_tools",
    "service": "infra.emulator.fake_tools",
}


class PathMap:
    """Rewrites container paths (`/workspace/x`, `/root`) to host paths, whole path components only."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = dict(mapping)
        # Longest first so `/usr/local/bin/vllm` wins over shorter prefixes.
        keys = sorted(self.mapping, key=len, reverse=True)
        alternatives = "|".join(re.escape(key) for key in keys)
        self._pattern = re.compile(rf"(?<![\w.\-/~])({alternatives})(?![\w.\-])")

    def translate(self, text: str) -> str:
        if not self.mapping:
            return text
        return self._pattern.sub(lambda match: self.mapping[match.group(1)], text)

    def to_env(self) -> str:
        return json.dumps(self.mapping, sort_keys=True)

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str] | None = None) -> PathMap:
        source = os.environ if environ is None else environ
        return cls(json.loads(source.get(PATH_MAP_ENV, "{}")))


@dataclass(frozen=True)
class Sandbox:
    """Directory layout of one pod: home (`/root`), volume (`/workspace`), bin (stand-ins), logs."""

    root: Path
    volume_dir: Path
    mount_path: str
    gpu: bool

    @classmethod
    def create(cls, root: Path, volume_dir: Path | None, mount_path: str, gpu: bool) -> Sandbox:
        sandbox = cls(root.resolve(), (volume_dir or root / "workspace").resolve(), mount_path, gpu)
        for directory in (
            sandbox.home,
            sandbox.volume_dir,
            sandbox.bin_dir,
            sandbox.run_dir,
            sandbox.etc_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        sandbox.write_shims()
        sandbox.write_sitecustomize()
        return sandbox

    @property
    def home(self) -> Path:
        return self.root / "root"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    @property
    def log_path(self) -> Path:
        return self.root / "container.log"

    def path_map(self) -> PathMap:
        mapping = {"/root": str(self.home), self.mount_path.rstrip("/") or "/": str(self.volume_dir)}
        for container_path, tool in _TOOL_PATHS.items():
            if self.gpu or tool not in _GPU_TOOLS:
                mapping[container_path] = str(self.bin_dir / tool)
        return PathMap(mapping)

    def tools(self) -> list[str]:
        return [tool for tool in _SHIMS if self.gpu or tool not in _GPU_TOOLS]

    def write_shims(self) -> None:
        """Write one executable per stand-in that runs our module with this very interpreter."""
        for tool in self.tools():
            shim = self.bin_dir / tool
            shim.write_text(
                f"#!{sys.executable}\n" + self._bootstrap() + f"from {_SHIMS[tool]} import main\n"
                f"sys.argv[0] = {tool!r}\n"
                "sys.exit(main(sys.argv[1:]))\n"
            )
            shim.chmod(0o755)

    @property
    def python_dir(self) -> Path:
        return self.root / "pylib"

    def _bootstrap(self) -> str:
        """Python lines that make our modules importable without running the packages' __init__."""
        package_dir = Path(__file__).resolve().parent
        return (
            "import sys, types\n"
            f"for name, path in (('infra', {str(package_dir.parent)!r}), ('infra.emulator', {str(package_dir)!r})):\n"
            "    if name not in sys.modules:\n"
            "        sys.modules[name] = module = types.ModuleType(name)\n"
            "        module.__path__ = [path]\n"
        )

    def write_sitecustomize(self) -> None:
        """Every Python process of the pod starts by pacing its reads of the volume (volume_pace.py)."""
        self.python_dir.mkdir(parents=True, exist_ok=True)
        (self.python_dir / "sitecustomize.py").write_text(
            self._bootstrap() + "from infra.emulator.volume_pace import install\ninstall()\n"
        )

    def write_vllm_package(self, version: str) -> None:
        """A `vllm` package for the pod's python3: `__version__` and `-m vllm.entrypoints.openai.api_server`."""
        package = self.python_dir / "vllm"
        server_dir = package / "entrypoints" / "openai"
        server_dir.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
        (package / "entrypoints" / "__init__.py").write_text("")
        (server_dir / "__init__.py").write_text("")
        (server_dir / "api_server.py").write_text(
            self._bootstrap() + "from infra.emulator.fake_vllm import api_server_main\n"
            "if __name__ == '__main__':\n"
            "    sys.exit(api_server_main())\n"
        )

    def environment(self, pod_env: dict[str, str]) -> dict[str, str]:
        """The env a pod process sees: pod env translated, HOME and PATH pointing into the sandbox."""
        paths = self.path_map()
        env = {key: paths.translate(value) for key, value in pod_env.items()}
        host_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        # The interpreter's own bin dir holds the `hf` CLI and a python3 with huggingface_hub.
        env["PATH"] = os.pathsep.join([str(self.bin_dir), str(Path(sys.executable).parent), host_path])
        env["HOME"] = str(self.home)
        env["USER"] = env["LOGNAME"] = "root"
        env["LANG"] = os.environ.get("LANG", "C.UTF-8")
        env[PATH_MAP_ENV] = paths.to_env()
        env[SANDBOX_ENV] = str(self.root)
        env[VOLUME_DIR_ENV] = str(self.volume_dir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.python_dir), env.get("PYTHONPATH")]))
        return env
