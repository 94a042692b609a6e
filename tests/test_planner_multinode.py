"""Multi-node layouts: verdicts from the memory model, labels from evidence, one command per node."""

from __future__ import annotations

from infra.plan import LEADER_ADDRESS
from infra.planner import PlanRequest, plan

PRO_2X8_H100 = PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes")


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_vllm_roles_use_the_documented_data_parallel_flags():
    leader, worker = plan(PRO_2X8_H100).roles
    assert (leader.role, leader.node_rank, leader.serves_http) == ("leader", 0, True)
    assert (worker.role, worker.node_rank, worker.serves_http) == ("worker", 1, False)
    la, wa = leader.argv("10.0.0.1"), worker.argv("10.0.0.1")
    assert la[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-V4-Pro"]
    for args in (la, wa):
        assert _value(args, "--tensor-parallel-size") == "8"
        assert _value(args, "--data-parallel-size") == "2"
        assert _value(args, "--data-parallel-size-local") == "1"
        assert _value(args, "--data-parallel-address") == "10.0.0.1"
        assert _value(args, "--data-parallel-rpc-port") == "13345"
        assert "--enable-expert-parallel" in args
        assert LEADER_ADDRESS not in " ".join(args)
    assert "--headless" in wa and "--headless" not in la
    assert _value(wa, "--data-parallel-start-rank") == "1" and "--data-parallel-start-rank" not in la
    assert "--pipeline-parallel-size" not in la


def test_vllm_tp_across_nodes_uses_nnodes_node_rank_and_master_addr():
    # Flash's expert width divides into 128-wide blocks over 16 GPUs, so cross-node TP is a valid request.
    p = plan(PlanRequest("flash", "H100-SXM", 8, nodes=2, target="kubernetes", strategy="tp-ep"))
    assert p.verdict == "fits"
    leader, worker = (r.argv("10.0.0.1") for r in p.roles)
    for rank, args in enumerate((leader, worker)):
        assert _value(args, "--nnodes") == "2" and _value(args, "--node-rank") == str(rank)
        assert _value(args, "--master-addr") == "10.0.0.1" and _value(args, "--master-port") == "29500"
    assert "--headless" in worker and "--headless" not in leader


def test_sglang_tp16_roles_carry_dist_init_addr_and_node_rank():
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", engine="sglang"))
    assert p.verdict == "fits" and p.strategy == "tp" and p.tensor_parallel == 16
    assert not p.verified and "H20" in p.verified_detail
    for rank, role in enumerate(p.roles):
        args = role.argv("leader.svc")
        assert args[:3] == ["python3", "-m", "sglang.launch_server"]
        assert _value(args, "--tp") == "16"
        assert _value(args, "--dist-init-addr") == "leader.svc:5000"
        assert _value(args, "--nnodes") == "2" and _value(args, "--node-rank") == str(rank)
        assert role.env["SGLANG_SHARED_EXPERT_TP1"] == "1"
    assert "--nnodes" not in p.engine.args  # the single-node command stays single-node


def test_infiniband_adds_the_nccl_setting_to_every_role():
    plain = plan(PRO_2X8_H100)
    ib = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", interconnect="infiniband"))
    assert all("NCCL_IB_HCA" not in r.env for r in plain.roles)
    assert all(r.env["NCCL_IB_HCA"] == "mlx5" and r.env["NCCL_CUMEM_ENABLE"] == "1" for r in ib.roles)


def test_a_known_network_interface_pins_nccl_and_gloo_on_every_role():
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", network_interface="ens1"))
    assert all(r.env["NCCL_SOCKET_IFNAME"] == r.env["GLOO_SOCKET_IFNAME"] == "ens1" for r in p.roles)
    assert all("NCCL_SOCKET_IFNAME" not in r.env for r in plan(PRO_2X8_H100).roles)


def test_single_node_plans_have_no_roles_and_json_carries_them():
    assert plan(PlanRequest("pro", "H200", 8)).roles == ()
    data = plan(PRO_2X8_H100).to_dict()
    assert [r["role"] for r in data["roles"]] == ["leader", "worker"]
    assert data["roles"][1]["args"][-1] == "--headless"


def test_two_nodes_deploy_as_an_instant_cluster_on_runpod_and_a_leaderworkerset_on_kubernetes():
    runpod = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="runpod"))
    assert runpod.verdict == "fits" and [r.role for r in runpod.roles] == ["leader", "worker"]
    assert not any(r.startswith("planned only:") for r in runpod.reasons)
    # Kubernetes deploys two nodes as a LeaderWorkerSet (infra/targets/kubernetes/manifests.py).
    k8s = plan(PRO_2X8_H100)
    assert not any(r.startswith("planned only:") for r in k8s.reasons)
