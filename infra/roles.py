"""One command per node of a multi-node layout, exactly as each engine documents it (pure).

- vLLM data parallel across nodes (TP inside a node, EP over every GPU), one API server on the leader:
  `--data-parallel-size-local`, `--data-parallel-address`, `--data-parallel-rpc-port` on every node,
  `--data-parallel-start-rank` and `--headless` on workers (vLLM docs/serving/data_parallel_deployment.md,
  "Internal Load Balancing", read 2026-11-30).
- vLLM tensor parallel across nodes (multiprocessing): `--nnodes`, `--node-rank`, `--master-addr`,
  `--master-port`, and `--headless` on workers (vLLM docs/serving/parallelism_scaling.md, read 2026-11-30).
- SGLang: `--dist-init-addr LEADER:PORT --nnodes N --node-rank R` on every node; rank 0 serves HTTP.
"""

from __future__ import annotations

from infra.catalog import Engine
from infra.memory import Layout
from infra.plan import LEADER_ADDRESS, EngineSpec, RoleCommand

# NCCL over InfiniBand: the HCA prefix vLLM's multi-node guide sets (docs/serving/parallelism_scaling.md).
INFINIBAND_ENV = {"NCCL_IB_HCA": "mlx5"}
# EP's all-to-all here is vLLM's default (no DeepEP backend is selected), so NVSHMEM is not configured.
# The interface NCCL and Gloo bind to across nodes (vllm-project/recipes strategies/multi_node_tp_dp.yaml).
SOCKET_IFNAME_VARS = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")


def role_commands(
    engine: Engine,
    spec: EngineSpec,
    layout: Layout,
    nodes: int,
    interconnect: str,
    network_interface: str | None = None,
) -> tuple[RoleCommand, ...]:
    """The leader's and each worker's command; empty for a single node."""
    if nodes < 2:
        return ()
    env = dict(spec.env)
    if interconnect == "infiniband":
        env.update(INFINIBAND_ENV)
    if network_interface:
        env.update(dict.fromkeys(SOCKET_IFNAME_VARS, network_interface))
    out: list[RoleCommand] = []
    for rank in range(nodes):
        role = "leader" if rank == 0 else "worker"
        out.append(
            RoleCommand(
                role=role,
                node_rank=rank,
                command=spec.command,
                args=(*spec.args, *_node_args(engine, layout, nodes, rank)),
                env=env,
                serves_http=rank == 0,
            )
        )
    return tuple(out)


def _node_args(engine: Engine, layout: Layout, nodes: int, rank: int) -> list[str]:
    if engine.key == "sglang":
        return [
            "--dist-init-addr",
            f"{LEADER_ADDRESS}:{engine.dist_init_port}",
            "--nnodes",
            str(nodes),
            "--node-rank",
            str(rank),
        ]
    if layout.data_parallel >= nodes and layout.data_parallel % nodes == 0:
        local = layout.data_parallel // nodes
        args = ["--data-parallel-size-local", str(local)]
        if rank > 0:
            args += ["--data-parallel-start-rank", str(rank * local)]
        args += [
            "--data-parallel-address",
            LEADER_ADDRESS,
            "--data-parallel-rpc-port",
            str(engine.dp_rpc_port),
        ]
        return args + (["--headless"] if rank > 0 else [])
    args = [
        "--nnodes",
        str(nodes),
        "--node-rank",
        str(rank),
        "--master-addr",
        LEADER_ADDRESS,
        "--master-port",
        str(engine.master_port),
    ]
    return args + (["--headless"] if rank > 0 else [])
