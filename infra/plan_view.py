"""Plans as people read them: a table per plan, one row per preset."""

from __future__ import annotations

import shlex

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from infra.plan import GIB, PUBLISHER_ONLY, Plan
from infra.plan_start import StartCost, StartPlan

VERDICT_STYLE = {"fits": "bold green", "tight": "bold yellow", "no-fit": "bold red"}


def plan_panel(p: Plan, title: str | None = None) -> Panel:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    nodes = f" x {p.nodes} nodes" if p.nodes > 1 else ""
    head.add_row("model", p.model)
    head.add_row("hardware", f"{p.gpu_count}x {p.gpu}{nodes} on {p.target}")
    head.add_row("verdict", Text(p.verdict + evidence_suffix(p), VERDICT_STYLE[p.verdict]))
    head.add_row("evidence", p.verified_detail or p.source)
    for e in p.evidence:
        head.add_row("", e.label())
    if p.verdict != "no-fit":
        par = f"TP={p.tensor_parallel} DP={p.data_parallel}{' +EP' if p.expert_parallel else ''}"
        head.add_row("layout", f"{p.strategy} ({par})")
        head.add_row(
            "context",
            f"max-model-len {p.max_model_len:,}, max-num-seqs {p.max_num_seqs}"
            + (", eager" if p.enforce_eager else ""),
        )
        needs = (
            f" (CUDA {p.engine.cuda}: NVIDIA driver >= {p.engine.min_driver})"
            if p.engine.cuda
            else " (CUDA unknown)"
        )
        head.add_row("image", p.engine.image + needs)
        if p.roles:
            for role in p.roles:
                env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(role.env.items()))
                head.add_row(
                    f"{role.role} (node {role.node_rank})",
                    f"{env} {shlex.join(role.argv('<leader-address>'))}",
                )
        else:
            head.add_row("command", shlex.join([*p.engine.command, *p.engine.args]))
    t = p.throughput
    if t is not None and p.verdict != "no-fit":
        head.add_row(
            "throughput",
            f"~{t.output_tokens_per_s:,.0f} output tok/s at concurrency {t.concurrency} "
            f"({t.input_tokens:,} in / {t.output_tokens:,} out); from {t.source}; {t.extrapolation}",
        )
    cost = p.cost
    api = cost.api
    if cost.usd_per_hour is not None:
        line = f"${cost.usd_per_hour:.2f}/hour (${cost.usd_per_gpu_hour}/GPU-h, read {cost.price_date})"
        if cost.usd_per_million_output is not None:
            line += f"; ${cost.usd_per_million_output:.2f}/1M output at the declared load"
        head.add_row("cost", line)
    head.add_row(
        "DeepSeek API",
        f"{api.api_model} ({api.serves}): ${api.peak_usd_per_million_output:.2f}/1M output at peak "
        f"({api.peak_hours}), ${api.off_peak_usd_per_million_output:.2f} off-peak; read {api.price_date}"
        + (
            f"; break-even {api.break_even_peak_million_per_hour:,.1f}M tok/h at peak, "
            f"{api.break_even_off_peak_million_per_hour:,.1f}M off-peak"
            if api.break_even_peak_million_per_hour is not None
            and api.break_even_off_peak_million_per_hour is not None
            else ""
        ),
    )
    head.add_row("cache", f"{cost.cache_gb} GB volume, ${cost.cache_usd_per_month:.2f}/month")
    if p.start is not None:
        _start_rows(head, p.start)

    mem = Table(title="per-GPU memory", show_header=True, header_style="bold", expand=False)
    mem.add_column("term")
    mem.add_column("GiB", justify="right")
    m = p.memory
    for label, value in (
        ("reported by nvidia-smi", m.reported_bytes),
        (f"seen by CUDA x {m.gpu_memory_utilization}", m.usable_bytes),
        ("weights", m.weights_bytes),
        ("CUDA context", m.cuda_context_bytes),
        ("NCCL buffers", m.nccl_bytes),
        ("activations", m.activation_bytes),
        ("CUDA graphs", m.cudagraph_bytes),
        ("long-context workspace", m.workspace_bytes),
        ("KV cache", m.kv_cache_bytes),
    ):
        mem.add_row(label, f"{value / GIB:,.1f}")
    mem.add_row("KV tokens", f"{m.kv_tokens:,}")

    reasons = Text("\n".join(f"- {r}" for r in p.reasons))
    parts: list[Table | Text] = [head, mem]
    if p.start is not None:
        parts += [phase_table(p.start.first, "start by phase (first start)"), options_table(p.start)]
    parts.append(reasons)
    if p.alternatives:
        parts.append(Text("cheapest that fit: " + ", ".join(a.label() for a in p.alternatives), style="cyan"))
    return Panel(Group(*parts), title=title or f"{p.model} on {p.gpu_count}x {p.gpu}", expand=False)


def _start_rows(head: Table, start: StartPlan) -> None:
    head.add_row("weights", f"{start.storage}: {start.rate_note}")
    for line in start.measured:
        head.add_row("", f"recorded {line}")
    flags = " ".join(start.load_flags) or "no loading flag"
    head.add_row("loading", f"{flags}: {start.load_reason}")
    head.add_row("", f"engine default here: {start.engine_default}")
    head.add_row("hosts", start.hosts.sentence)
    cache = (
        f"on the weight volume, key {start.compile_cache_digest[:16]}"
        if start.compile_cache_known
        else "in the container"
    )
    head.add_row("compile cache", cache)
    for note in start.notes:
        head.add_row("", note)


def _num(value: float | None, fmt: str) -> str:
    return "unknown" if value is None else format(value, fmt)


def phase_table(start: StartCost, title: str) -> Table:
    """One start's phases: seconds, GPU-seconds, dollars, and whether each is measured or published."""
    table = Table(title=f"{title}: {start.label}", show_header=True, header_style="bold", expand=False)
    for col, justify in (("phase", "left"), ("s", "right"), ("GPU-s", "right"), ("$", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    table.add_column("basis")
    table.add_column("source")
    for ph in start.phases:
        table.add_row(
            ph.phase,
            _num(ph.seconds, ",.0f"),
            _num(ph.gpu_seconds, ",.0f"),
            _num(ph.usd, ",.2f"),
            ph.basis,
            ph.source,
        )
    table.add_row(
        "total",
        f"{start.seconds:,.0f}",
        f"{start.gpu_seconds:,.0f}",
        f"{start.usd:,.2f}",
        "",
        _unknown(start),
    )
    return table


def _unknown(start: StartCost) -> str:
    return f"unknown, counted as 0: {', '.join(start.unknown)}" if start.unknown else ""


def options_table(start: StartPlan) -> Table:
    """The ways to start compared: default against chosen loading, cold against warm cache, download."""
    table = Table(title="start options", show_header=True, header_style="bold", expand=False)
    table.add_column("start")
    for col in ("s", "GPU-s", "$"):
        table.add_column(col, justify="right")
    table.add_column("unknown phases")
    for row in (*start.comparisons, start.warm):
        table.add_row(
            row.label,
            f"{row.seconds:,.0f}",
            f"{row.gpu_seconds:,.0f}",
            f"{row.usd:,.2f}",
            ", ".join(row.unknown) or "-",
        )
    return table


def evidence_suffix(p: Plan) -> str:
    """The evidence label beside a verdict: nothing when verified, else which kind of unverified."""
    if p.verified:
        return ""
    if p.verified_detail.startswith(PUBLISHER_ONLY):
        return f" ({PUBLISHER_ONLY})"
    return " (unverified)"


def stacks_table(rows: list[tuple[str, Plan]]) -> Table:
    table = Table(show_header=True, header_style="bold")
    for col in ("stack", "target", "model", "GPUs", "verdict", "layout", "context", "$/hour"):
        table.add_column(col)
    for name, p in rows:
        table.add_row(
            name,
            p.target,
            p.model.split("/")[-1],
            f"{p.gpu_count}x {p.gpu}" + (f" x{p.nodes}" if p.nodes > 1 else ""),
            Text(p.verdict + ("" if p.verdict == "no-fit" else evidence_suffix(p)), VERDICT_STYLE[p.verdict]),
            p.strategy,
            f"{p.max_model_len:,}",
            f"{p.cost.usd_per_hour:.2f}" if p.cost.usd_per_hour is not None else "?",
        )
    return table


def console(stderr: bool = False) -> Console:
    # Pipes and CI get 120 columns rather than rich's 80, so commands stay on readable lines.
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 120
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
