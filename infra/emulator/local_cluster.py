"""A local Kubernetes control plane on loopback, with fake GPU nodes: the real API server, judged by itself.

etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager and kube-scheduler run as they would
in a cluster; kwok stands in for the kubelets, so nodes report Ready and pods go Running (Job pods finish at
once) without running a container. `tools/build-kube.sh` (run by `make tools`) builds the binaries.

kwok also serves the kubelet API (exec, logs, port-forward) on loopback, and the API server reaches it as
it reaches a kubelet: `kubectl exec` in a GPU pod runs the stand-in nvidia-smi with the pod's GPUs, as
the NVIDIA container toolkit gives a container its GPUs (infra/emulator/gpu_exec.py writes kwok's Exec
for each such pod).

    cluster = LocalCluster(workdir).start()   # ready: nodes Ready, default StorageClass, default SA
    cluster.kubectl("get", "nodes")
    cluster.stop()

`python -m infra.emulator.local_cluster start|stop|env DIR` does the same from a shell
(`tools/kube-local.sh` wraps it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.catalog import load_catalog
from infra.emulator import gpu_exec
from infra.emulator.local_pki import SERVICE_CIDR, Pki
from infra.kube_tools import KWOK_STAGES, KubeTools, ToolsMissing

STORAGE_CLASS = "standard"
# The in-tree hostPath provisioner of kube-controller-manager (--enable-hostpath-provisioner): testing only.
HOSTPATH_PROVISIONER = "kubernetes.io/host-path"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
DRIVER_MAJOR_LABEL = "nvidia.com/cuda.driver.major"
GPUS_PER_NODE = 8
# The catalog's GPUs that get a fake 8-GPU node each.
NODE_GPUS = ("H100-SXM", "H200")
CPU_NODE = "kwok-cpu-0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """etcd, the API server, controller manager, scheduler and kwok under `workdir`, on loopback ports."""

    workdir: Path
    tools: KubeTools | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_port: int = 0

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    def env(self) -> dict[str, str]:
        """What a client needs: KUBECONFIG, and PATH with the built kubectl first."""
        tools = self._tools()
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{tools.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _tools(self) -> KubeTools:
        if self.tools is None:
            self.tools = KubeTools.find()
        return self.tools

    def start(self, timeout_s: float = 180.0) -> LocalCluster:
        """Start every component and wait until nodes are Ready and pods can be created."""
        tools = self._tools()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        pki = Pki(self.workdir / "pki")
        pki.create()
        deadline = time.monotonic() + timeout_s
        try:
            self._start_etcd(tools, deadline)
            self._start_apiserver(tools, pki, deadline)
            self._write_kubeconfig(pki)
            self._start_controllers(tools, pki)
            gpu_exec.install_crd(self, deadline)
            self._start_kwok(tools, pki)
            gpu_exec.start(self)
            self._save_state()
            self._seed(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component (newest first); their data directory is left for logs."""
        for name in reversed(list(self.processes)):
            _terminate(self.processes[name])
        self.processes.clear()
        (self.workdir / "cluster.json").unlink(missing_ok=True)

    # --- components ---------------------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        log.close()
        self.processes[name] = proc
        return proc

    def _start_etcd(self, tools: KubeTools, deadline: float) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                str(tools.etcd),
                "--name=v4infra",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=v4infra=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # throwaway data: no fsync keeps a busy 2-core machine responsive
            ],
        )
        self._wait("etcd", deadline, lambda: _http_ok(f"{self.etcd_url}/health"))

    def _start_apiserver(self, tools: KubeTools, pki: Pki, deadline: float) -> None:
        self.api_port = free_port()
        self._spawn(
            "kube-apiserver",
            [
                str(tools.apiserver),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # The `kubernetes` Service's endpoint may not be loopback; no pod runs here to call it.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={pki.path('apiserver.crt')}",
                f"--tls-private-key-file={pki.path('apiserver.key')}",
                f"--client-ca-file={pki.path('ca.crt')}",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # RBAC as on a real cluster: the reaper's Role is judged by the API server itself.
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # exec, logs and port-forward go to kwok's kubelet API: each node's InternalIP (loopback) and
                # daemonEndpoints port, its serving certificate checked against the CA as a kubelet's would be.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={pki.path('ca.crt')}",
                "--profiling=false",
            ],
        )
        self._wait("kube-apiserver", deadline, lambda: self._api_ok("/readyz"))

    def _write_kubeconfig(self, pki: Pki) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "v4infra-local",
                    "cluster": {"server": self.server, "certificate-authority": str(pki.path("ca.crt"))},
                }
            ],
            "users": [
                {
                    "name": "v4infra-admin",
                    "user": {
                        "client-certificate": str(pki.path("admin.crt")),
                        "client-key": str(pki.path("admin.key")),
                    },
                }
            ],
            "contexts": [
                {"name": "v4infra-local", "context": {"cluster": "v4infra-local", "user": "v4infra-admin"}}
            ],
            "current-context": "v4infra-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    def _start_controllers(self, tools: KubeTools, pki: Pki) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                str(tools.controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.path('ca.crt')}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Provisions hostPath volumes under /tmp for the `standard` class: what a CSI driver would do.
                "--enable-hostpath-provisioner=true",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(tools.scheduler),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
            ],
        )

    def _start_kwok(self, tools: KubeTools, pki: Pki) -> None:
        # kwok's kubelet API, on the port every node advertises (kwok v0.8.0 pkg/kwok/cmd/root.go: --server-address,
        # --node-ip, --node-port; its node-initialize stage writes them into status.addresses and
        # status.daemonEndpoints.kubeletEndpoint.Port, as kwokctl's kwok_controller.go sets them).
        kubelet_port = free_port()
        docs: list[dict[str, Any]] = [
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                "options": {
                    # kwok refuses to start without it: "parallelism must be greater than 0".
                    "nodeLeaseDurationSeconds": 40,
                    "nodeLeaseParallelism": 4,
                    "nodePlayStageParallelism": 4,
                    "podPlayStageParallelism": 8,
                    "manageAllNodes": False,
                    "manageNodesWithAnnotationSelector": f"{FAKE_NODE_ANNOTATION}=fake",
                    "serverAddress": f"127.0.0.1:{kubelet_port}",
                    "nodeIP": "127.0.0.1",
                    # A Hostname address too: without one, node-initialize (re-run whenever a node's Ready lapses
                    # on a busy machine) rewrites status.addresses with only the missing entries, i.e. none.
                    "nodeName": "localhost",
                    "nodePort": kubelet_port,
                    "tlsCertFile": str(pki.path("kubelet.crt")),
                    "tlsPrivateKeyFile": str(pki.path("kubelet.key")),
                    # The kubelet API's exec, logs and port-forward (kwok's default is true, but a config file
                    # that leaves it out turns them off: "Debug endpoints are disabled.").
                    "enableDebuggingHandlers": True,
                    # Exec objects from the API server, not this file: gpu_exec writes one per GPU pod.
                    "enableCRDs": [gpu_exec.EXEC_KIND],
                },
            }
        ]
        for stage_dir in KWOK_STAGES:
            for path in sorted((tools.kwok_stages / stage_dir).glob("*.yaml")):
                if path.name != "kustomization.yaml":
                    docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
        config = self.workdir / "kwok.yaml"
        config.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        # kwok runs an exec'd command from its own PATH (os/exec LookPath): the stand-in nvidia-smi is first on it.
        env = {
            **os.environ,
            "PATH": f"{gpu_exec.tool_dir(self.workdir)}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self._spawn(
            "kwok", [str(tools.kwok), f"--kubeconfig={self.kubeconfig}", f"--config={config}"], env=env
        )

    def _seed(self, deadline: float) -> None:
        """The fake GPU nodes and the default StorageClass; waits for what a pod needs to be scheduled."""
        self.apply([*fake_nodes(), default_storage_class()])
        self._wait("the fake GPU nodes", deadline, self._nodes_ready)
        # Pods need the namespace's default ServiceAccount, which the controller manager creates.
        self._wait(
            "the default ServiceAccount",
            deadline,
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
        )

    # --- clients ------------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster; raises with its stderr when `check` fails."""
        done = subprocess.run(
            [str(self._tools().kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def apply(self, objects: Iterable[dict[str, Any]]) -> None:
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(list(objects)))

    def get_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return data

    def api(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET `path` as the admin; (status, body)."""
        pki = self.workdir / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        try:
            with urllib.request.urlopen(self.server + path, timeout=10, context=context) as resp:
                body = resp.read()
                try:
                    return resp.status, json.loads(body or b"{}")
                except json.JSONDecodeError:
                    return resp.status, {}
        except urllib.error.HTTPError as err:
            return err.code, {}

    def _api_ok(self, path: str) -> bool:
        try:
            return self.api(path)[0] == 200
        except OSError:
            return False

    def _nodes_ready(self) -> bool:
        status, nodes = self.api("/api/v1/nodes")
        items = nodes.get("items", []) if status == 200 else []
        ready = [
            n
            for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        ]
        return len(ready) >= len(NODE_GPUS) + 1

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        while not ready():
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} exited while waiting for {what}: {self._log_tail(dead[0])}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"local control plane: {what} not ready in time; logs in {self.workdir}/logs"
                )
            time.sleep(0.2)

    def _log_tail(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        return " | ".join(lines[-5:])

    def _save_state(self) -> None:
        state = {"server": self.server, "pids": {n: p.pid for n, p in self.processes.items()}}
        (self.workdir / "cluster.json").write_text(json.dumps(state, indent=2), encoding="utf-8")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def fake_nodes() -> list[dict[str, Any]]:
    """A CPU node (downloads, the reaper) and one kwok node per GPU in NODE_GPUS: 8 GPUs, the product
    label GPU feature discovery sets, and the taint GPU pools carry."""
    catalog = load_catalog()
    nodes = [_node(CPU_NODE, {"cpu": "32", "memory": "128Gi", "pods": "110"}, {}, [])]
    for key in NODE_GPUS:
        gpu = catalog.gpu(key)
        resources = {"cpu": "192", "memory": "2Ti", "pods": "110", GPU_RESOURCE: str(GPUS_PER_NODE)}
        labels = {
            GPU_PRODUCT_LABEL: gpu.k8s_product_label,
            "nvidia.com/gpu.count": str(GPUS_PER_NODE),
            # GPU feature discovery's driver label: the captured H200's driver 580.159.04 (shared/fixtures/gpu/h200).
            DRIVER_MAJOR_LABEL: "580",
        }
        taints = [{"key": GPU_RESOURCE, "effect": "NoSchedule"}]
        nodes.append(_node(gpu_node_name(key), resources, labels, taints))
    return nodes


def gpu_node_name(gpu_key: str) -> str:
    return f"kwok-{gpu_key.lower()}-0"


def _node(
    name: str, resources: dict[str, str], labels: dict[str, str], taints: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **labels,
            },
        },
        "spec": {"taints": taints},
        "status": {"allocatable": resources, "capacity": resources},
    }


def default_storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": HOSTPATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


# --- command line (tools/kube-local.sh) ----------------------------------------------------------------


def _stop_dir(workdir: Path) -> int:
    """Stop the components a `start` left running in `workdir` (by their recorded pids, nothing else)."""
    state_file = workdir / "cluster.json"
    if not state_file.exists():
        print(f"no local control plane recorded in {workdir}", file=sys.stderr)
        return 0
    pids: dict[str, int] = json.loads(state_file.read_text(encoding="utf-8"))["pids"]
    for name, pid in reversed(list(pids.items())):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(150):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
        print(f"stopped {name} ({pid})")
    state_file.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kube-local", description="A local Kubernetes control plane with fake GPU nodes (kwok)."
    )
    parser.add_argument("action", choices=("start", "stop", "env"))
    parser.add_argument("dir", type=Path, nargs="?", default=Path(".kube-local"))
    args = parser.parse_args(argv)
    workdir = args.dir.resolve()
    if args.action == "stop":
        return _stop_dir(workdir)
    if args.action == "env":
        print(f"export KUBECONFIG={workdir / 'kubeconfig'}")
        try:
            print(f"export PATH={KubeTools.find().kubectl.parent}:$PATH")
        except ToolsMissing as err:
            print(err, file=sys.stderr)
            return 1
        return 0
    try:
        cluster = LocalCluster(workdir)
        if (workdir / "cluster.json").exists():
            print(f"{workdir}: a control plane is already recorded there; stop it first", file=sys.stderr)
            return 1
        started = time.monotonic()
        cluster.start()
    except (ToolsMissing, RuntimeError, TimeoutError) as err:
        print(err, file=sys.stderr)
        return 1
    # Detach: the components keep running after this command; `stop` ends them by their pids.
    cluster.processes.clear()
    print(
        f"ready in {time.monotonic() - started:.1f}s: {cluster.server}; export KUBECONFIG={cluster.kubeconfig}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
