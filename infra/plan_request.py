"""What the planner is asked: the stack's choices it plans from (pure data; the stack config builds it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanRequest:
    """One deployment as the planner is asked for it: the checkpoint, the GPUs, the engine, the load."""

    model: str
    gpu: str
    gpus_per_node: int
    nodes: int = 1
    target: str = "runpod"
    engine: str = "vllm"
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    speculative: str = "none"  # "none", "mtp" or "dspark"
    image: str | None = None  # full image reference overriding the catalog's choice
    spot: bool = False
    strategy: str | None = None  # force a layout ("tp-ep", "dp-ep", "tp-dp-ep", "tp"); default: the best
    # The load the stack declares: concurrent streams and tokens per request (the throughput estimate).
    concurrency: int = 8
    input_tokens: int = 8192
    output_tokens: int = 1024
    interconnect: str = "unknown"  # "infiniband" adds the NCCL settings multi-node traffic needs
    network_interface: str | None = None  # the NIC NCCL and Gloo bind to across nodes, when known
    # An image without a version (`:latest`, no tag) runs whatever it resolves to that day: refused unless set.
    allow_floating_image: bool = False
    # How the weights reach the GPUs (infra/start_model.py): the RunPod volume tier ("auto": the data
    # center's best), a loading strategy and thread count the stack sets, downloading at start instead.
    volume_tier: str = "auto"
    load_strategy: str | None = None
    load_threads: int | None = None
    download_at_start: bool = False
    # Read-rate probe records (one JSON line each) that apply to this stack: recorded by its pre-fill or
    # download Job, or read from the stack's `measuredRates` file. The planner never reads files itself.
    measurements: tuple[str, ...] = ()
    # The stack's own allowedCudaVersions (RunPod); empty: derived from the image.
    allowed_cuda_versions: tuple[str, ...] = ()
