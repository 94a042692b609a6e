"""Where `make tools` put the Kubernetes binaries, at the versions this project pins.

The product's kubectl (current API versions; Debian's is too old) and the local control plane's
binaries (infra/emulator/local_cluster.py) are both found here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# Keep in step with tools/build-kube.sh (a test compares them).
KUBERNETES_VERSION = "v1.37.2"
KWOK_VERSION = "v0.8.0"
# kwok's stage sets, from its module (kustomize/stage): node lifecycle with leases; pods Running and Ready
# (init containers done) at once, Job pods Succeeded at once, deleted pods removed ("fast": no delays).
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast")
MAKE_TOOLS = "run `make tools` (or tools/build-kube.sh) to build the Kubernetes tools"


class ToolsMissing(RuntimeError):
    """A binary the control plane needs is not built or installed."""


def tools_cache() -> Path:
    return Path(os.environ.get("V4INFRA_TOOLS_CACHE") or Path.home() / ".cache/deepseek-v4-infra/tools")


@dataclass(frozen=True)
class KubeTools:
    """Where each binary of the control plane is."""

    etcd: Path
    apiserver: Path
    controller_manager: Path
    scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_stages: Path

    @classmethod
    def find(cls) -> KubeTools:
        """The binaries `make tools` built (or found on PATH); ToolsMissing names each one missing."""
        kube_bin = tools_cache() / f"kubernetes-{KUBERNETES_VERSION}" / "bin"
        kwok_dir = tools_cache() / f"kwok-{KWOK_VERSION}"
        missing: list[str] = []

        def find(name: str, *dirs: Path) -> Path:
            for d in dirs:
                if (d / name).is_file() and os.access(d / name, os.X_OK):
                    return d / name
            found = shutil.which(name)
            if found is None:
                missing.append(name)
                return Path(name)
            return Path(found)

        tools = cls(
            etcd=find("etcd", Path("/usr/bin")),
            apiserver=find("kube-apiserver", kube_bin),
            controller_manager=find("kube-controller-manager", kube_bin),
            scheduler=find("kube-scheduler", kube_bin),
            # The kubectl built with the API server: Debian's kubernetes-client (1.20) is too old.
            kubectl=find("kubectl", kube_bin),
            kwok=find("kwok", kwok_dir / "bin"),
            kwok_stages=kwok_dir / "stages",
        )
        if not missing and not all((tools.kwok_stages / s).is_dir() for s in KWOK_STAGES):
            missing.append(f"kwok's stage files ({tools.kwok_stages})")
        if missing:
            hint = "; etcd comes from Debian: scripts/system-deps.sh" if "etcd" in missing else ""
            raise ToolsMissing(f"local control plane: missing {', '.join(missing)}: {MAKE_TOOLS}{hint}")
        return tools
