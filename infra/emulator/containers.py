"""The pods' containers in simulated time: pulled, started, exited, restarted, killed.

A ticker thread moves the account's pods along: PROVISIONING -> STARTING (the image is pulled; an
image that cannot be pulled is ERROR) -> RUNNING once the container runs. A container whose command
exits is restarted after `Timing.restart_seconds`, endlessly, and the pod stays RUNNING and billed,
as RunPod does (dstack#1142); only `stop` makes a pod EXITED. Runtimes are started and killed
outside the account's lock because that spawns and reaps processes.
"""

from __future__ import annotations

import shlex
import shutil
import threading

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.clusters import member_env
from infra.emulator.models import image_entrypoint
from infra.emulator.pod import PodLaunch
from infra.emulator.pod_log import CONTAINER, SYSTEM
from infra.emulator.resources import (
    ERROR,
    EXITED,
    PROVISIONING,
    RUNNING,
    STARTING,
    Pod,
    PodRuntimeLike,
    RuntimeFactory,
    parse_ports,
    parse_start_command,
)

TICK_REAL_SECONDS = 0.02
# An image under this registry never pulls (a way for tests to reach ERROR without a fault).
UNPULLABLE_REGISTRY = "registry.invalid/"


class Containers:
    """Runs the account's pods' containers with `runtime_factory`, one tick every TICK_REAL_SECONDS."""

    def __init__(self, account: Account, runtime_factory: RuntimeFactory) -> None:
        self.account = account
        self.runtime_factory = runtime_factory
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="emulator-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        """Stop ticking and kill every runtime."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.account.detach_runtimes()

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_REAL_SECONDS):
            self.tick()

    def tick(self) -> None:
        account = self.account
        to_start: list[tuple[Pod, int, PodLaunch | PodRuntimeLike]] = []
        watched: list[tuple[Pod, int, PodRuntimeLike]] = []
        to_die: list[PodRuntimeLike] = []
        with account.lock:
            now = account.clock.now()
            for pod in account.pods.values():
                self._advance(pod, now, to_start, watched, to_die)
        for runtime in to_die:
            threading.Thread(target=runtime.kill, name="container-death", daemon=True).start()
        # is_alive() may reap a dead container's strays and read_output() reads files: never under the lock.
        seen = [
            (pod, generation, runtime.is_alive(), _output(runtime)) for pod, generation, runtime in watched
        ]
        to_kill: list[PodRuntimeLike] = []
        with account.lock:
            now = account.clock.now()
            for pod, generation, alive, lines in seen:
                if account.pods.get(pod.id) is not pod or pod.generation != generation:
                    continue
                for line in lines:
                    pod.log.append(CONTAINER, line, now)
                if not alive and pod.container_up:
                    self._container_exited(pod, now, to_kill)
        for runtime in to_kill:
            runtime.kill()
        for pod, generation, what in to_start:
            threading.Thread(
                target=self._run_container, args=(pod, generation, what), name=f"start-{pod.id}", daemon=True
            ).start()

    def _advance(
        self,
        pod: Pod,
        now: float,
        to_start: list[tuple[Pod, int, PodLaunch | PodRuntimeLike]],
        watched: list[tuple[Pod, int, PodRuntimeLike]],
        to_die: list[PodRuntimeLike],
    ) -> None:
        if pod.status == PROVISIONING and pod.pull_at is not None and now >= pod.pull_at:
            pod.status = STARTING
            image = pod.request.image_name
            pod.log.append(SYSTEM, f"Pulling image {image}", now)
            if image.startswith(UNPULLABLE_REGISTRY) or image in self.account.faults.unpullable_images:
                # An image that cannot be pulled is what RunPod calls unrecoverable: ERROR, no restart.
                pod.status = ERROR
                pod.start_due = None
                pod.log.append(
                    SYSTEM,
                    f"Error response from daemon: pull access denied for {image}, repository does not "
                    "exist or may require 'docker login'",
                    now,
                )
                return
        if pod.status == STARTING and not pod.starting and pod.start_due is not None and now >= pod.start_due:
            pod.starting = True
            to_start.append((pod, pod.generation, self._launch(pod)))
        elif pod.status == RUNNING and pod.runtime is not None:
            if pod.container_up and pod.die_at is not None and now >= pod.die_at:
                pod.die_at = None
                to_die.append(pod.runtime)
            if pod.container_up or pod.restart_due is None:
                watched.append((pod, pod.generation, pod.runtime))
            elif not pod.starting and now >= pod.restart_due:
                pod.starting = True
                pod.restart_due = None
                to_start.append((pod, pod.generation, pod.runtime))

    def _container_exited(self, pod: Pod, now: float, to_kill: list[PodRuntimeLike]) -> None:
        runtime = pod.runtime
        code = getattr(runtime, "exit_code", None)
        ended = f"Container exited with code {code}" if code is not None else "Container exited"
        if self.account.faults.never_restart:
            released = self.account.release(pod, now)
            pod.status = EXITED
            pod.changed("Exited")
            pod.log.append(SYSTEM, ended, now)
            if released is not None:
                to_kill.append(released)
            return
        # RunPod restarts a container whose command exits, endlessly; the pod stays RUNNING and billed
        # (dstack#1142: "The Runpod provider infinitely restarts the pod if the docker args script is incorrect").
        delay = self._restart_delay()
        pod.container_up = False
        pod.die_at = None
        pod.restart_due = now + delay
        pod.log.append(SYSTEM, f"{ended}; restarting in {delay:g}s", now)
        if pod.cluster_id is not None:
            self._peers_lose(pod, now, to_kill)

    def _restart_delay(self) -> float:
        override = self.account.faults.restart_delay_seconds
        return self.account.timing.restart_seconds if override is None else override

    def _peers_lose(self, pod: Pod, now: float, to_kill: list[PodRuntimeLike]) -> None:
        """A member whose engine exits takes its peers' engines down: their collectives lose a rank."""
        cluster = self.account.clusters.get(pod.cluster_id or "")
        for peer_id in cluster.pod_ids if cluster is not None else []:
            peer = self.account.pods.get(peer_id)
            if peer is None or peer is pod or not peer.container_up or peer.runtime is None:
                continue
            peer.log.append(SYSTEM, f"Container killed: cluster member rank {pod.cluster_rank} exited", now)
            to_kill.append(peer.runtime)

    def _launch(self, pod: Pod) -> PodLaunch:
        account = self.account
        request = pod.request
        volume = account.volumes.get(request.network_volume_id) if request.network_volume_id else None
        env = dict(request.env)
        env.update(
            {
                "RUNPOD_POD_ID": pod.id,
                "RUNPOD_POD_HOSTNAME": f"{pod.id}-{pod.machine_id[:8]}",
                "RUNPOD_API_KEY": pod.pod_key,
                "RUNPOD_PUBLIC_IP": "127.0.0.1",
                "RUNPOD_GPU_COUNT": str(pod.gpu_count),
                "RUNPOD_DC_ID": pod.data_center_id,
                "RUNPOD_API_BASE_URL": account.api_base_url,
                "EMULATOR_IMAGE": request.image_name,
                "EMULATOR_GPU_TYPE": pod.gpu_type_id or "",
                "EMULATOR_GPU_COUNT": str(pod.gpu_count),
                "EMULATOR_ENGINE_FAULT": account.faults.engine_fault or "",
                "EMULATOR_LOAD_SECONDS": f"{account.clock.real_seconds(account.timing.load_seconds):.3f}",
            }
        )
        if volume is not None:
            # The pod reads its volume at the tier's published rate (infra/emulator/volume_pace.py).
            env["EMULATOR_VOLUME_BYTES_PER_S"] = str(catalog.VOLUME_READ_BYTES_PER_S[volume.volume_type])
        if pod.cluster_id is not None:
            cluster = account.clusters.get(pod.cluster_id)
            if cluster is not None:
                env.update(member_env(account, cluster, pod))
        argv: list[str] | None = None
        if account.faults.json_start_command == "honour":
            form = parse_start_command(request.docker_args)
            if form is not None:
                entrypoint, cmd = form
                base = entrypoint if entrypoint is not None else image_entrypoint(request.image_name) or []
                argv = [*base, *(cmd or [])]
        # The runtime runs a command line; exec'ing the joined argv is what the container would run.
        command = "exec " + shlex.join(argv) if argv else request.docker_args
        mount_path = request.volume_mount_path or "/workspace"
        if volume is not None and account.faults.ignore_mount_path:
            mount_path = "/workspace"
        return PodLaunch(
            pod_id=pod.id,
            name=pod.name,
            image=request.image_name,
            gpu_type_id=pod.gpu_type_id,
            gpu_count=pod.gpu_count,
            docker_args=command,
            env=env,
            volume_dir=volume.directory if volume is not None else None,
            volume_mount_path=mount_path,
            ports=parse_ports(request.ports),
            # RunPod passes dockerArgs to the image's ENTRYPOINT when it has one (runpod-python#338).
            image_entrypoint=not argv,
        )

    def _run_container(self, pod: Pod, generation: int, what: PodLaunch | PodRuntimeLike) -> None:
        """Start a new container (`what` is a launch) or restart one (`what` is its runtime)."""
        account = self.account
        runtime: PodRuntimeLike | None = None
        sandbox = account.sandbox_dir(pod.id)
        failure = ""
        unrecoverable = False
        try:
            if isinstance(what, PodLaunch):
                sandbox.mkdir(parents=True, exist_ok=True)
                # The runtime takes the engine's load time in real seconds (it sets EMULATOR_LOAD_SECONDS).
                load_seconds = account.clock.real_seconds(account.timing.load_seconds)
                unrecoverable = True
                runtime = self.runtime_factory(
                    what, sandbox, account.clock, load_seconds, account.faults.engine_fault
                )
                unrecoverable = False
            else:
                runtime = what
            runtime.start()
        except Exception as exc:  # a container that cannot start is restarted like one that exited
            failure = f"container failed to start: {type(exc).__name__}: {exc}"
        stale = False
        with account.lock:
            now = account.clock.now()
            current = account.pods.get(pod.id)
            if current is not pod or pod.generation != generation or pod.status not in (STARTING, RUNNING):
                stale = True
            elif runtime is None or unrecoverable:
                pod.status = ERROR
                pod.starting = False
                pod.log.append(SYSTEM, failure, now)
            else:
                pod.runtime = runtime
                pod.starting = False
                pod.status = RUNNING
                if failure:
                    pod.log.append(SYSTEM, failure, now)
                    pod.container_up = False
                    pod.restart_due = now + self._restart_delay()
                    return
                pod.container_up = True
                pod.started_at = now
                if pod.first_started_at is None:
                    pod.first_started_at = now
                else:
                    pod.restarts += 1
                pod.log.append(SYSTEM, "Container started", now)
                if pod.kind == "gpu" and account.faults.die_after_seconds is not None:
                    pod.die_at = now + account.faults.die_after_seconds
        if stale and runtime is not None:
            # Whoever made it stale (stop, terminate) may have killed it before this start: kill again.
            runtime.kill()
        if stale and account.get_pod(pod.id) is None:
            # Terminated while starting: the sandbox this thread made is nobody's.
            shutil.rmtree(sandbox, ignore_errors=True)


def _output(runtime: PodRuntimeLike) -> list[str]:
    read = getattr(runtime, "read_output", None)
    return list(read()) if callable(read) else []
