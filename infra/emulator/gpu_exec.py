"""The NVIDIA container toolkit's stand-in on the local control plane: `kubectl exec` in a GPU pod runs the
stand-in nvidia-smi (fake_nvidia_smi.py) with that pod's GPUs.

On a GPU node the toolkit puts nvidia-smi and the container's GPUs (as many as its nvidia.com/gpu limit,
given by the device plugin) into every container that asks for GPUs. kwok runs no container, but it
serves the kubelet's exec API and runs a local command for it, with the envs of the kwok Exec object
named after the pod (kwok v0.8.0, pkg/kwok/server/debugging_exec.go: ExecInContainer, getExecTarget,
findContainerInExecs; the Exec CRD, kustomize/crd/bases/kwok.x-k8s.io_execs.yaml, vendored in crds/).
So this process watches the pods bound to a GPU node and writes one Exec per pod:

- per container with a nvidia.com/gpu limit: EMULATOR_GPU_TYPE, the node's GPU as nvidia-smi names it
  (GPU feature discovery's product label is that name with dashes for spaces), and EMULATOR_GPU_COUNT,
  the container's limit;
- owned by the pod, so the garbage collector removes it with the pod; a later pod of the same name
  (a group recreated) gets its own;
- written once and then left alone: a test may change what a pod's GPUs report.

A node labelled nvidia.com/gpu.deploy.container-toolkit=false (the GPU operator's per-node switch for
the toolkit) gets none: an exec there fails, as nvidia-smi would be missing from the container.

    python -m infra.emulator.gpu_exec --kubeconfig PATH   # runs until killed or the API server is gone
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from infra.emulator.lws_api import ApiServer
from infra.emulator.lws_launch import ControlPlane
from infra.emulator.models import GPUS

PROCESS_NAME = "gpu-exec"
MODULE = "infra.emulator.gpu_exec"
FIELD_MANAGER = "v4infra-gpu-exec-stand-in"
EXEC_KIND = "Exec"
EXEC_CRD = "execs.kwok.x-k8s.io"
EXEC_API = "/apis/kwok.x-k8s.io/v1alpha1"
GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
TOOLKIT_LABEL = "nvidia.com/gpu.deploy.container-toolkit"
# What fake_nvidia_smi reads: the GPU model (a key of models.GPUS) and how many the container sees.
TYPE_ENV, COUNT_ENV = "EMULATOR_GPU_TYPE", "EMULATOR_GPU_COUNT"
# A watch ends after this long and is reopened; the API server gone that long stops the process.
WATCH_SECONDS = 60
GONE_AFTER_SECONDS = 120.0


def gpu_name(product_label: str | None) -> str | None:
    """The GPU nvidia-smi names, from GPU feature discovery's product label (spaces written as dashes)."""
    return next((name for name in GPUS if name.replace(" ", "-") == product_label), None)


def exec_for(pod: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any] | None:
    """The kwok Exec giving `pod`'s GPU containers `node`'s GPUs; None where the toolkit would give none."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    gpu = gpu_name(labels.get(PRODUCT_LABEL))
    if gpu is None or labels.get(TOOLKIT_LABEL) == "false":
        return None
    targets = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        limit = ((container.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE)
        if limit and int(limit) > 0:
            envs = [{"name": TYPE_ENV, "value": gpu}, {"name": COUNT_ENV, "value": str(int(limit))}]
            targets.append({"containers": [container["name"]], "local": {"envs": envs}})
    if not targets:
        return None
    meta = pod["metadata"]
    owner = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": EXEC_KIND,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "ownerReferences": [owner]},
        "spec": {"execs": targets},
    }


def owner_uid(obj: Mapping[str, Any]) -> str | None:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((str(o.get("uid")) for o in owners if o.get("kind") == "Pod"), None)


class ExecWriter:
    """Writes the Exec of every GPU pod bound to a node, once per pod (by uid)."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.done: set[str] = set()

    def say(self, line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    def sync(self) -> str:
        """Every bound pod seen; the list's resourceVersion, where a watch picks up."""
        answer = self.api.client.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName!="})
        answer.raise_for_status()
        listed = answer.json()
        for pod in listed.get("items") or []:
            self.ensure(pod)
        return str(listed["metadata"]["resourceVersion"])

    def watch(self, version: str) -> None:
        """Each pod bound or changed since `version`, until the watch ends (its timeout, or history gone)."""
        params = {
            "watch": "true",
            "fieldSelector": "spec.nodeName!=",
            "resourceVersion": version,
            "timeoutSeconds": str(WATCH_SECONDS),
            "allowWatchBookmarks": "false",
        }
        timeout = httpx.Timeout(20.0, read=WATCH_SECONDS + 30.0)
        with self.api.client.stream("GET", "/api/v1/pods", params=params, timeout=timeout) as answer:
            answer.raise_for_status()
            for event in _events(answer.iter_lines()):
                if event.get("type") == "ERROR":  # 410 Gone: history compacted; the caller lists again
                    return
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self.ensure(event["object"])

    def ensure(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta.get("uid"))
        if uid in self.done or meta.get("deletionTimestamp"):
            return
        node = self.api.get(f"/api/v1/nodes/{pod['spec']['nodeName']}")
        wanted = exec_for(pod, node) if node is not None else None
        if wanted is None:
            self.done.add(uid)
            return
        path = f"{EXEC_API}/namespaces/{meta['namespace']}/execs"
        existing = self.api.get(f"{path}/{meta['name']}")
        if existing is not None and owner_uid(existing) == uid:
            self.done.add(uid)
            return
        if existing is not None:  # a predecessor pod's of the same name, not yet collected
            self.api.delete(f"{path}/{meta['name']}", propagation="Background")
        answer = self.api.client.post(path, json=wanted, params={"fieldManager": FIELD_MANAGER})
        if answer.status_code != 409:
            answer.raise_for_status()
        self.done.add(uid)
        gpus = ", ".join(
            f"{t['containers'][0]}: {t['local']['envs'][1]['value']}x {t['local']['envs'][0]['value']}"
            for t in wanted["spec"]["execs"]
        )
        self.say(f"{meta['namespace']}/{meta['name']} on {pod['spec']['nodeName']}: exec sees {gpus}")


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


def run(kubeconfig: Path) -> int:
    """List, then watch, the bound pods; again whenever a watch ends; stop once the API server is gone."""
    writer = ExecWriter(ApiServer(kubeconfig))
    writer.say(f"GPU exec stand-in (kwok Exec per GPU pod) watching {kubeconfig}")
    last_answer = time.monotonic()
    said = ""
    while True:
        try:
            writer.watch(writer.sync())
            last_answer = time.monotonic()
        except (httpx.TransportError, httpx.HTTPStatusError) as err:
            if str(err) != said:  # once per new error: the log says why nothing happens
                said = str(err)
                writer.say(f"cannot watch pods: {err}")
            if time.monotonic() - last_answer > GONE_AFTER_SECONDS:
                writer.say(f"the API server is gone ({err}); stopping")
                return 0
            time.sleep(1.0)


def tool_dir(workdir: Path) -> Path:
    """A directory holding `nvidia-smi`: the stand-in, run by this interpreter (first on kwok's PATH)."""
    bin_dir = workdir / "gpu-tools"
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / "nvidia-smi"
    tool.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m infra.emulator.fake_nvidia_smi "$@"\n',
        encoding="utf-8",
    )
    tool.chmod(0o755)
    return bin_dir


def install_crd(cluster: ControlPlane, deadline: float) -> None:
    """kwok's Exec CRD, Established before kwok starts (kwok watches Execs from the start: --enable-crds)."""
    crd = resources.files("infra.emulator").joinpath("crds/kwok.x-k8s.io_execs.yaml").read_text("utf-8")
    cluster.kubectl("apply", "--server-side", "--field-manager", FIELD_MANAGER, "-f", "-", input=crd)
    while not _established(cluster):
        if time.monotonic() > deadline:
            raise TimeoutError("local control plane: kwok's Exec CRD was not Established in time")
        time.sleep(0.2)


def _established(cluster: ControlPlane) -> bool:
    done = cluster.kubectl("get", "crd", EXEC_CRD, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def start(cluster: ControlPlane) -> None:
    """This stand-in as one of the control plane's processes (stopped with it)."""
    # Its own process, importing only the stand-ins (infra.emulator), never the product it judges.
    cluster._spawn(PROCESS_NAME, [sys.executable, "-m", MODULE, "--kubeconfig", str(cluster.kubeconfig)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpu-exec", description="kwok Exec objects giving GPU pods' exec the stand-in nvidia-smi."
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args(argv)
    # SIGTERM ends it at once (the default action): nothing to flush, and a watch may be mid-read.
    return run(args.kubeconfig)


if __name__ == "__main__":
    sys.exit(main())
