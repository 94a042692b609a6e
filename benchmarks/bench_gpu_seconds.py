"""GPU-seconds and dollars billed before DeepSeek-V4-Flash on 4x H200 answers /health, three ways,
and what an engine that crashes at load costs before it is torn down, two ways.

The table's GPU-seconds come from the assumptions (pod start = the image pull and engine load = the weights
read at the volume's published rate plus the published graph capture, from the plan's start by phase), so
it is the same on every run; the run itself checks each flow end to end, and its real overheads (process
starts, polls, SSH) are measured and printed apart.

(a) the GPU pod downloads the weights itself, then starts the engine (what this project avoids);
(b) a CPU pod pre-fills the network volume, then the GPU pod serves from it (what it does);
(c) (b) again on the now warm volume: the pre-fill finds a verified copy and downloads nothing.
(d) vLLM runs out of memory at load under the start script (the container stays up): the engine-health
    watch reads the exit from the log stream and the pod is terminated;
(e) the same crash with `startCommand: plain`: the container exits, RunPod restarts it and keeps billing
    (dstack#1142); the watch sees runtime.uptime fall back and the pod is terminated.

Everything runs for real on loopback: the RunPod providers against the emulator, the rendered start
scripts in pod sandboxes, the filler (`infra/weights.py`) against a fake Hugging Face hub, the fake
engine behind the emulator's proxy. Only time is simulated: pod starts, engine load, the hub's
bandwidth and the bill all run on one clock, `--time-scale` simulated seconds per real second.

    .venv/bin/python benchmarks/bench_gpu_seconds.py [--time-scale 200] [--download-minutes 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from infra.emulator import Emulator, Faults, Timing
from infra.emulator import catalog as market
from infra.emulator.hub import FakeHub
from infra.errors import CarriedError, V4InfraError
from infra.plan import Plan
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.runpod import naming, providers, runtime
from infra.targets.runpod.component import CPU_IMAGE
from infra.targets.runpod.prefill import filler_source
from infra.targets.runpod.start_script import (
    CACHE_MOUNT,
    cpu_start_script,
    gpu_start_script,
    json_start_command,
)

STACK = "bench"
DATA_CENTER = "US-TX-3"
GPU_TYPE = "NVIDIA H200"
HF_TOKEN = "hf_benchmarkTOKENnotREAL"
VLLM_API_KEY = "sk-benchmark"
FILL_WORKERS = 4  # what the pre-fill passes to the filler (`--max-workers 4`), used for (a) too
SHARDS = 8
# Real bytes per shard: big enough that the hub streams it in many throttled chunks (no read timeout).
SHARD_BYTES = 1024 * 1024
POLL_REAL_SECONDS = 0.02
HEREDOC = "V4INFRA_FILLER_SOURCE"
# The crash scenarios measure a watch that polls in real time, so they run nearer real time; the load
# before the crash is shortened, as it does not change what is billed after the crash.
CRASH_TIME_SCALE = 5.0
CRASH_LOAD_SECONDS = 60.0


class ScenarioFailed(Exception):
    """A scenario did not reach a healthy endpoint; the message says where it stopped."""


@dataclass(frozen=True)
class Assumptions:
    """The simulated world; every figure is stated in the output's header."""

    time_scale: float
    download_minutes: float
    """Hub -> pod for the whole checkpoint over FILL_WORKERS connections."""
    start_seconds: float
    """Create -> container running (scheduling, image pull)."""
    load_minutes: float
    """Engine start -> /health with the weights on local disk or the volume."""
    derived: str = ""
    """How start and load came from the start model (empty when given on the command line)."""

    def aggregate_bytes_per_second(self, weights_bytes: int) -> float:
        return weights_bytes / (self.download_minutes * 60)

    def modelled(self, scenario: str, gpus: int) -> tuple[float, float, float, float]:
        """(GPU-s start, GPU-s download, GPU-s load, CPU-pod s) of a scenario from these numbers alone."""
        start, download, load = self.start_seconds, self.download_minutes * 60, self.load_minutes * 60
        if scenario.startswith("(a)"):
            return start * gpus, download * gpus, load * gpus, 0.0
        cpu = start + (download if scenario.startswith("(b)") else 0.0)
        return start * gpus, 0.0, load * gpus, cpu


def from_start_model(
    deployment: Plan, start_seconds: float | None, load_minutes: float | None
) -> tuple[float, float, str]:
    """Pod start = the image pull, engine load = weights read + compile + graph capture, from the plan's
    start by phase (bandwidths and published figures), unless given."""
    assert deployment.start is not None
    phases = {p.phase: p for p in deployment.start.first.phases}
    pull = phases["image pull"].seconds or 0.0
    load = sum(phases[n].seconds or 0.0 for n in ("weights read", "compile", "graph capture") if n in phases)
    notes = []
    if start_seconds is None:
        notes.append(f"pod start = image pull {pull:,.0f} s ({phases['image pull'].source})")
    if load_minutes is None:
        unknown = [n for n in ("compile",) if phases.get(n) and phases[n].seconds is None]
        notes.append(
            f"engine load = weights read {phases['weights read'].seconds or 0:,.0f} s ({phases['weights read'].source})"
            f" + graph capture {phases['graph capture'].seconds or 0:,.0f} s"
            + (f"; {', '.join(unknown)} has no published figure (0)" if unknown else "")
        )
    return (
        pull if start_seconds is None else start_seconds,
        load / 60 if load_minutes is None else load_minutes,
        "; ".join(notes),
    )


@dataclass
class GpuTiming:
    """One GPU pod's life until /health, in simulated seconds on the emulator's clock."""

    created_at: float
    running_at: float
    fill_done_at: float | None
    healthy_at: float
    gpu_count: int
    gpu_seconds: float
    usd: float
    hub_bytes: int
    """Bytes the hub sent while this pod lived: none for a pod that serves from a filled volume."""

    @property
    def starting(self) -> float:
        return (self.running_at - self.created_at) * self.gpu_count

    @property
    def downloading(self) -> float:
        return 0.0 if self.fill_done_at is None else (self.fill_done_at - self.running_at) * self.gpu_count

    @property
    def loading(self) -> float:
        return (self.healthy_at - (self.fill_done_at or self.running_at)) * self.gpu_count


@dataclass
class Row:
    scenario: str
    downloaded_gb: float
    gpu: GpuTiming
    cpu_seconds: float
    cpu_usd: float
    sim_minutes: float
    wall_seconds: float


class Bench:
    """The emulator, the hub and the plan one benchmark run shares, with the steps scenarios take."""

    def __init__(self, emulator: Emulator, hub: FakeHub, deployment: Plan, assumptions: Assumptions) -> None:
        self.emulator = emulator
        self.hub = hub
        self.plan = deployment
        self.assumptions = assumptions
        self.private_key, self.public_key = generate_keypair("bench")
        self.conn = {
            "api_key": emulator.api_key,
            "api_base_url": emulator.url,
            "proxy_url_template": emulator.proxy_url_template,
        }
        self.http = httpx.Client(timeout=5.0, trust_env=False)

    def now(self) -> float:
        return self.emulator.clock.now()

    def downloaded_gb(self, served_before: int) -> float:
        """Simulated GB the hub sent since `served_before`, scaling real bytes to declared sizes."""
        files = self.hub.files(self.plan.model).values()
        real = sum(len(f.data) for f in files)
        declared = self.plan.weights_bytes + sum(
            len(f.data) for f in files if not f.path.endswith(".safetensors")
        )
        return (self.hub.bytes_served(self.plan.model) - served_before) / real * declared / 1e9

    def volume_props(self) -> dict[str, Any]:
        name = naming.resource_name(naming.for_stack(STACK, backend=""), "cache", "v1")
        return {
            **self.conn,
            "name": name,
            "size_gb": self.plan.cost.cache_gb,
            "data_center_ids": [DATA_CENTER],
            "placement_gpu_type_ids": [GPU_TYPE],
            "placement_gpu_count": self.plan.gpu_count,
            "volume_type": "auto",
        }

    def prefill_props(self, volume_id: str) -> dict[str, Any]:
        return {
            **self.conn,
            "name": naming.resource_name(naming.for_stack(STACK, backend=""), "prefill", naming.new_run_id()),
            "stack": STACK,
            "volume_id": volume_id,
            "data_center_id": DATA_CENTER,
            "repo_id": self.plan.model,
            "revision": "main",
            "cache_dir": f"{CACHE_MOUNT}/hf",
            "image": CPU_IMAGE,
            "args": json_start_command(cpu_start_script(stack=STACK, ttl_seconds=None)),
            "hf_token": HF_TOKEN,
            "hf_endpoint": self.hub.url,
            "private_key": self.private_key,
            "public_key": self.public_key,
        }

    def gpu_props(self, volume_id: str | None, *, download_first: bool) -> dict[str, Any]:
        name = naming.resource_name(naming.for_stack(STACK, backend=""), "pod", naming.new_run_id())
        script = gpu_start_script(self.plan, stack=STACK, pod_name=name, ttl_seconds=None)
        env = {"PUBLIC_KEY": self.public_key, "VLLM_API_KEY": VLLM_API_KEY}
        if download_first:
            script = filler_prelude(self.plan.model) + script
            env |= {"HF_TOKEN": HF_TOKEN, "HF_ENDPOINT": self.hub.url}
        return {
            **self.conn,
            "name": name,
            "image": self.plan.engine.image,
            "gpu_type_ids": [GPU_TYPE],
            "gpu_count": self.plan.gpu_count,
            "data_center_ids": [DATA_CENTER],
            "volume_id": volume_id,
            "args": json_start_command(script),
            "ports": ["8000/http", "22/tcp"],
            "cache_gb": self.plan.cost.cache_gb,
            # The naive pod keeps the weights on its own disk, so it needs room for them.
            "container_disk_gb": self.plan.cost.cache_gb if download_first else 50,
            "ttl_seconds": None,
            "env": env,
        }

    def serve(self, props: dict[str, Any], *, watch_fill: bool) -> GpuTiming:
        """Create the GPU pod, poll its /health through the proxy, read its bill, terminate it."""
        pod = providers.PodProvider()
        served = self.hub.bytes_served(self.plan.model)
        created = pod.create(props)  # returns once the container runs
        running_at = self.now()
        try:
            endpoint = (created.outs or {})["endpoint"]
            return self._until_healthy(created.id, endpoint, running_at, watch_fill, served)
        finally:
            pod.delete(created.id, props)

    def _until_healthy(
        self, pod_id: str, endpoint: str, running_at: float, watch_fill: bool, served: int
    ) -> GpuTiming:
        a = self.assumptions
        simulated_budget = 3 * (a.start_seconds + a.download_minutes * 60 + a.load_minutes * 60)
        deadline = time.monotonic() + self.emulator.clock.real_seconds(simulated_budget) + 30
        fill_done_at: float | None = None
        while True:
            if watch_fill and fill_done_at is None:
                event = self._filler_result(pod_id)
                if event is not None:
                    if event.get("event") != "done":
                        raise ScenarioFailed(f"the filler on GPU pod {pod_id} failed: {event.get('message')}")
                    fill_done_at = self.now()
            healthy = self._healthy(endpoint)
            healthy_at = self.now()
            record = self._live_record(pod_id)
            if record is None or record["status"] != "RUNNING":
                tail = "\n  ".join(self.emulator.state.log_tail(pod_id, 15))
                raise ScenarioFailed(f"GPU pod {pod_id} stopped before /health answered:\n  {tail}")
            if healthy:
                return GpuTiming(
                    created_at=float(record["createdAt"]),
                    running_at=running_at,
                    fill_done_at=fill_done_at,
                    healthy_at=healthy_at,
                    gpu_count=int(record["gpuCount"]),
                    gpu_seconds=float(record["gpu_seconds"]),
                    usd=float(record["usd"]),
                    hub_bytes=self.hub.bytes_served(self.plan.model) - served,
                )
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"GPU pod {pod_id}: /health did not answer 200 within the budget")
            time.sleep(POLL_REAL_SECONDS)

    def _healthy(self, endpoint: str) -> bool:
        try:
            return self.http.get(endpoint + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    def _filler_result(self, pod_id: str) -> dict[str, Any] | None:
        """The filler's last `done`/`error` line in the pod's log, read through the emulator's control API."""
        response = self.http.get(f"{self.emulator.url}/_emulator/pods/{pod_id}/logs")
        if response.status_code != 200:
            return None
        for line in reversed(response.json()["logs"]):
            if line.startswith("{"):
                event: dict[str, Any] = json.loads(line)
                if event.get("event") in ("done", "error"):
                    return event
        return None

    def _live_record(self, pod_id: str) -> dict[str, Any] | None:
        return next((p for p in self.emulator.inventory()["pods"] if p["id"] == pod_id), None)

    def history_record(self, pod_id: str) -> dict[str, Any]:
        return next(p for p in self.emulator.inventory()["history"] if p["id"] == pod_id)

    def terminate_everything(self) -> None:
        """Terminate every live pod and delete every volume this run made."""
        for pod in self.emulator.inventory()["pods"]:
            self.http.post(f"{self.emulator.url}/_emulator/pods/{pod['id']}/terminate")
        for volume in self.emulator.inventory()["volumes"]:
            providers.NetworkVolumeProvider().delete(volume["id"], self.volume_props())


def filler_prelude(repo: str) -> str:
    """Shell lines that download the checkpoint on the pod itself, before the engine starts."""
    source = filler_source().decode()
    if HEREDOC in source:
        raise ValueError(f"the filler's source contains the here-document delimiter {HEREDOC}")
    command = shlex.join(
        [
            *("python3", "-", "fill", "--cache-dir", f"{CACHE_MOUNT}/hf", "--repo", repo),
            *("--max-workers", str(FILL_WORKERS)),
        ]
    )
    return (
        "# Naive: download on the GPU pod itself, billed per GPU-second.\n"
        f"{command} <<'{HEREDOC}' || exit 1\n{source}\n{HEREDOC}\n"
    )


def on_the_gpu_pod(bench: Bench) -> Row:
    """(a) The GPU pod runs the filler into its own disk, then the engine."""
    start_real, start_sim, served = time.monotonic(), bench.now(), bench.hub.bytes_served(bench.plan.model)
    timing = bench.serve(bench.gpu_props(None, download_first=True), watch_fill=True)
    return Row(
        "(a) download on the GPU pod",
        bench.downloaded_gb(served),
        timing,
        0.0,
        0.0,
        (timing.healthy_at - start_sim) / 60,
        time.monotonic() - start_real,
    )


def prefill_then_serve(bench: Bench, volume_id: str, label: str) -> Row:
    """(b)/(c) A CPU pod fills the volume (or finds it complete), then the GPU pod serves from it."""
    start_real, start_sim, served = time.monotonic(), bench.now(), bench.hub.bytes_served(bench.plan.model)
    result = providers.WeightPrefillProvider().create(bench.prefill_props(volume_id))
    cpu = bench.history_record((result.outs or {})["prefill_pod_id"])
    timing = bench.serve(bench.gpu_props(volume_id, download_first=False), watch_fill=False)
    return Row(
        label,
        bench.downloaded_gb(served),
        timing,
        float(cpu["seconds"]),
        float(cpu["usd"]),
        (timing.healthy_at - start_sim) / 60,
        time.monotonic() - start_real,
    )


@dataclass
class CrashRow:
    scenario: str
    crash_at: float
    """Simulated time the engine's failure line was written."""
    torn_down_at: float
    gpu_count: int
    gpu_seconds_total: float
    load_gpu_seconds: float
    """One load attempt: start + load, x GPUs (the goal allows that plus 60 s)."""
    restarts: int
    reason: str

    @property
    def after_crash(self) -> float:
        return (self.torn_down_at - self.crash_at) * self.gpu_count


def crash_at_load(bench: Bench, volume_id: str, *, plain: bool) -> CrashRow:
    """(d)/(e) The engine runs out of memory at load; the project's own watch tears the pod down."""
    from infra.targets.runpod.client import RunPodClient, RunPodSettings
    from infra.targets.runpod.crashloop import RestartWatch
    from infra.targets.runpod.logs import PodLogSource
    from infra.targets.runpod.start_script import plain_vllm_args
    from infra.validate.engine_health import wait_for_engine

    bench.emulator.set_faults(Faults(engine_fault="oom"))
    props = bench.gpu_props(volume_id, download_first=False)
    if plain:
        props |= {
            "args": plain_vllm_args(bench.plan),
            "ports": ["8000/http"],
            "env": {**bench.plan.engine.env, "HF_HOME": f"{CACHE_MOUNT}/hf", "VLLM_API_KEY": VLLM_API_KEY},
        }
    client = RunPodClient(RunPodSettings.from_props(bench.conn))
    created = providers.PodProvider().create(props)
    pod_id = created.id
    watch = RestartWatch()

    def alive() -> bool:
        pod = client.get_pod(pod_id)
        return pod is not None and pod.status == "RUNNING" and not watch.observe(pod)

    try:
        result = wait_for_engine(
            (created.outs or {})["endpoint"],
            VLLM_API_KEY,
            log=PodLogSource(client, pod_id),
            budget_seconds=bench.emulator.clock.real_seconds(6 * 3600),
            poll_seconds=2.0,
            engine_alive=alive,
        )
        lines = bench.emulator.state.get_pod(pod_id).log.lines()  # type: ignore[union-attr]
    finally:
        providers.PodProvider().delete(pod_id, props)
    torn_down_at = bench.now()
    bench.emulator.set_faults(Faults())
    crash_at = next(line.at for line in lines if "out of memory" in line.line.lower())
    record = bench.history_record(pod_id)
    a = bench.assumptions
    return CrashRow(
        "(e) plain: crash loop" if plain else "(d) start script: exit",
        crash_at,
        torn_down_at,
        int(record["gpuCount"]),
        float(record["gpu_seconds"]),
        (a.start_seconds + CRASH_LOAD_SECONDS) * int(record["gpuCount"]),
        int(record.get("restarts", 0)),
        result.reason,
    )


def crash_table(rows: list[CrashRow]) -> str:
    head = f"{'scenario':<26}  {'GPU-s crash->teardown':>21}  {'GPU-s total':>11}  {'1 load + 60 s':>13}  {'restarts':>8}"
    lines = [head]
    for r in rows:
        goal = r.load_gpu_seconds + 60 * r.gpu_count
        lines.append(
            f"{r.scenario:<26}  {r.after_crash:>21,.0f}  {r.gpu_seconds_total:>11,.0f}  {goal:>13,.0f}  {r.restarts:>8}"
        )
    lines += [f"  {r.scenario}: {r.reason}" for r in rows]
    return "\n".join(lines)


def header(deployment: Plan, a: Assumptions) -> str:
    rate = a.aggregate_bytes_per_second(deployment.weights_bytes)
    cost = deployment.cost
    cpu_price = market.CPU_FLAVORS[market.DEFAULT_CPU_FLAVOR]
    return f"""\
GPU time billed before /health: {deployment.model} on {deployment.gpu_count}x {deployment.gpu} \
(RunPod emulator)
Simulated clock: {a.time_scale:g} simulated seconds per real second. Assumptions (source: \
shared/reference/deepseek-v4.md):
  weights      {deployment.weights_bytes / 1e9:.1f} GB (catalog; reference: ~160 GB), as {SHARDS} shards
  download     {a.download_minutes:g} min for the checkpoint: {rate / 1e6:.1f} MB/s over {FILL_WORKERS} \
connections of {rate / FILL_WORKERS / 1e6:.1f} MB/s
               (reference: Flash 30-60 min with `hf download --max-workers 4`, Dynamo recipes)
  pod start    {a.start_seconds:,.0f} s from create to a running container
  engine load  {a.load_minutes:.1f} min from the volume to /health (the planner's ceiling is {deployment.load_minutes} min)
               {a.derived or "as given on the command line"}
  prices       {deployment.gpu} ${cost.usd_per_gpu_hour:.2f}/GPU-h x {deployment.gpu_count} = \
${cost.usd_per_hour:.2f}/h (catalog: SkyPilot RunPod vms.csv, {cost.price_date});
               CPU pod {market.DEFAULT_CPU_FLAVOR} ${cpu_price:.2f}/h; the {cost.cache_gb} GB cache volume \
(${cost.cache_usd_per_month:.2f}/month) is not counted
  overheads    real process starts, polls and SSH round trips also run on the emulator's clock (one real
               second costs {a.time_scale:g} simulated seconds): the table is the model's, they are shown apart"""


@dataclass(frozen=True)
class Modelled:
    """A scenario's bill from the assumptions alone: the same on every machine and every run."""

    start: float
    download: float
    load: float
    cpu_seconds: float
    gpu_usd_per_second: float
    cpu_usd_per_second: float

    @property
    def gpu_seconds(self) -> float:
        return self.start + self.download + self.load

    @property
    def gpu_usd(self) -> float:
        return self.gpu_seconds * self.gpu_usd_per_second

    @property
    def cpu_usd(self) -> float:
        return self.cpu_seconds * self.cpu_usd_per_second


def modelled(row: Row, a: Assumptions, deployment: Plan) -> Modelled:
    start, download, load, cpu = a.modelled(row.scenario, deployment.gpu_count)
    per_gpu_second = (deployment.cost.usd_per_gpu_hour or 0.0) / 3600
    cpu_price = market.CPU_FLAVORS[market.DEFAULT_CPU_FLAVOR] / 3600
    return Modelled(start, download, load, cpu, per_gpu_second, cpu_price)


COLUMNS: tuple[tuple[str, int, Callable[[Row, Modelled], str]], ...] = (
    ("scenario", 28, lambda r, m: r.scenario),
    ("GB down", 8, lambda r, m: f"{r.downloaded_gb:.1f}"),
    ("GPU-s start", 12, lambda r, m: f"{m.start:,.0f}"),
    ("GPU-s download", 15, lambda r, m: f"{m.download:,.0f}"),
    ("GPU-s load", 11, lambda r, m: f"{m.load:,.0f}"),
    ("GPU-s total", 12, lambda r, m: f"{m.gpu_seconds:,.0f}"),
    ("GPU $", 7, lambda r, m: f"{m.gpu_usd:.2f}"),
    ("CPU-pod s", 10, lambda r, m: f"{m.cpu_seconds:,.0f}"),
    ("CPU $", 6, lambda r, m: f"{m.cpu_usd:.3f}"),
)
OVERHEAD_COLUMNS: tuple[tuple[str, int, Callable[[Row, Modelled, float], str]], ...] = (
    ("scenario", 28, lambda r, m, k: r.scenario),
    ("wall s", 7, lambda r, m, k: f"{r.wall_seconds:.1f}"),
    ("modelled s", 11, lambda r, m, k: f"{(m.gpu_seconds / r.gpu.gpu_count + m.cpu_seconds) / k:.1f}"),
    (
        "overhead s",
        11,
        lambda r, m, k: f"{r.wall_seconds - (m.gpu_seconds / r.gpu.gpu_count + m.cpu_seconds) / k:.1f}",
    ),
    ("emulator GPU-s", 15, lambda r, m, k: f"{r.gpu.gpu_seconds:,.0f}"),
)
LEGEND = """\
GPU-s: GPUs x seconds of the GPU pod until /health, from the assumptions above (start: create -> container
running; download: the filler on the GPU pod; load: -> /health), so the table is the same on every run. GB down:
simulated GB the hub sent in the run (it checks that (b) and (c) download nothing on the GPU pod). CPU-pod s:
the pre-fill pod's start and download."""
OVERHEAD_LEGEND = """\
Real overheads on this machine (process starts, polls, SSH round trips), apart from the table above: wall s
the scenario took, modelled s its simulated time at this clock, overhead s the difference; emulator GPU-s is
what the emulator billed, overheads included (x the time scale), and varies with how busy the machine is."""


def _line(cells: list[str], widths: list[int]) -> str:
    first, *rest = cells
    return "  ".join([f"{first:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(rest, widths[1:], strict=True))])


def table(rows: list[Row], a: Assumptions, deployment: Plan) -> str:
    widths = [width for _, width, _ in COLUMNS]
    lines = [_line([name for name, _, _ in COLUMNS], widths)]
    lines += [_line([cell(r, modelled(r, a, deployment)) for _, _, cell in COLUMNS], widths) for r in rows]
    return "\n".join(lines)


def overhead_table(rows: list[Row], a: Assumptions, deployment: Plan) -> str:
    widths = [width for _, width, _ in OVERHEAD_COLUMNS]
    lines = [_line([name for name, _, _ in OVERHEAD_COLUMNS], widths)]
    for r in rows:
        m = modelled(r, a, deployment)
        lines.append(_line([cell(r, m, a.time_scale) for _, _, cell in OVERHEAD_COLUMNS], widths))
    return "\n".join(lines)


def summary(rows: list[Row], a: Assumptions, deployment: Plan) -> str:
    """What pre-fill saves per cold start, and what a warm start costs, in dollars and GPU-hours."""
    if len(rows) < 3:
        return ""
    naive, prefill, warm = (modelled(r, a, deployment) for r in rows)
    saved = naive.gpu_usd - prefill.gpu_usd - prefill.cpu_usd
    return (
        f"cold start: ${prefill.gpu_usd + prefill.cpu_usd:.2f} with pre-fill instead of ${naive.gpu_usd:.2f} "
        f"(saves ${saved:.2f} and {(naive.gpu_seconds - prefill.gpu_seconds) / 3600:.1f} GPU-hours); "
        f"warm start: ${warm.gpu_usd + warm.cpu_usd:.2f}"
    )


def parse_args(argv: list[str] | None) -> Assumptions:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--time-scale", type=float, default=200.0, help="simulated seconds per real second")
    parser.add_argument("--download-minutes", type=float, default=40.0, help="whole checkpoint, hub -> pod")
    parser.add_argument(
        "--start-seconds", type=float, help="create -> container running (default: the image pull)"
    )
    parser.add_argument(
        "--load-minutes", type=float, help="engine start -> /health (default: the start model)"
    )
    args = parser.parse_args(argv)
    start, load, derived = from_start_model(
        plan(PlanRequest("flash", "H200", 4)), args.start_seconds, args.load_minutes
    )
    return Assumptions(args.time_scale, args.download_minutes, start, load, derived)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    logging.getLogger().setLevel(logging.WARNING)
    deployment = plan(PlanRequest("flash", "H200", 4))
    print(header(deployment, a), flush=True)
    # Poll pods at the benchmark's resolution: the default 2 real seconds would be minutes of simulated time.
    runtime.POLL_SECONDS = POLL_REAL_SECONDS
    rows: list[Row] = []
    crashes: list[CrashRow] = []
    failure: str | None = None
    timing = Timing(start_seconds=a.start_seconds, load_seconds=a.load_minutes * 60)
    with (
        tempfile.TemporaryDirectory(prefix="bench-gpu-seconds-") as state_dir,
        Emulator(time_scale=a.time_scale, timing=timing) as emulator,
        FakeHub(
            token=HF_TOKEN,
            throttle_bytes_per_second=a.aggregate_bytes_per_second(deployment.weights_bytes) / FILL_WORKERS,
            time_scale=a.time_scale,
        ) as hub,
    ):
        os.environ["V4INFRA_STATE_DIR"] = state_dir  # the pre-fill's known_hosts stays in the temp dir
        hub.add_fake_checkpoint(
            deployment.model, SHARDS, SHARD_BYTES, simulated_shard_bytes=deployment.weights_bytes // SHARDS
        )
        bench = Bench(emulator, hub, deployment, a)
        try:
            rows.append(on_the_gpu_pod(bench))
            volume_id = providers.NetworkVolumeProvider().create(bench.volume_props()).id
            rows.append(prefill_then_serve(bench, volume_id, "(b) pre-fill on a CPU pod"))
            rows.append(prefill_then_serve(bench, volume_id, "(c) warm volume"))
            # Detection runs in real time: slow the clock so a real second costs what it would on RunPod (x5).
            emulator.clock.set_scale(CRASH_TIME_SCALE)
            emulator.timing.load_seconds = CRASH_LOAD_SECONDS
            crashes.append(crash_at_load(bench, volume_id, plain=False))
            crashes.append(crash_at_load(bench, volume_id, plain=True))
        except (ScenarioFailed, V4InfraError, CarriedError) as error:
            failure = str(error)
        finally:
            bench.terminate_everything()
            bench.http.close()
        inventory = emulator.inventory()
    print()
    print(table(rows, a, deployment))
    print()
    print(LEGEND)
    print(summary(rows, a, deployment))
    if rows:
        print()
        print(OVERHEAD_LEGEND)
        print(overhead_table(rows, a, deployment))
    if crashes:
        print()
        print(
            "An engine that runs out of memory at load: GPU-seconds billed from the crash to the teardown "
            f"(clock x{CRASH_TIME_SCALE:g}, load {CRASH_LOAD_SECONDS:g} s, engine-health polls every 2 s)"
        )
        print(crash_table(crashes))
        ttl = 120 * 60 * deployment.gpu_count
        print(f"unwatched, either would bill until the stack's time-to-live: 120 min = {ttl:,} GPU-s")
    print(
        f"live pods after the run: {len(inventory['pods'])}, volumes: {len(inventory['volumes'])}; "
        f"emulator bill for everything: ${inventory['totals']['usd']:.2f}"
    )
    prefilled = [r for r in rows if r.scenario.startswith(("(b)", "(c)"))]
    if any(r.gpu.hub_bytes for r in prefilled):
        failure = failure or "a GPU pod that should serve from the filled volume downloaded from the hub"
    if failure is not None:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0 if not inventory["pods"] else 1


if __name__ == "__main__":
    sys.exit(main())
