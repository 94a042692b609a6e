"""Before the engine starts: are the GPUs, the disk and the weight cache what the plan assumed?"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from infra.ssh import CommandResult, CommandRunner, SshCommandTimeout, SshError
from infra.validate.stages import Finding, StageResult

GPU_QUERY_FIELDS = ("index", "name", "memory.total", "driver_version", "compute_cap")
GPU_QUERY_COMMAND = (
    "nvidia-smi",
    "--query-gpu=" + ",".join(GPU_QUERY_FIELDS),
    "--format=csv,noheader,nounits",
)
# nvidia-smi prints these where a field does not apply (MIG slices, old drivers).
_NOT_AVAILABLE = {"[N/A]", "N/A", "[Not Supported]", ""}
_UNIT_SUFFIX = re.compile(r"\s*\[[^\]]*\]$")


class GpuQueryError(ValueError):
    """nvidia-smi printed something that is not the query output we asked for."""


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as `nvidia-smi --query-gpu` describes it."""

    index: int
    name: str
    memory_mib: int
    driver_version: str | None
    compute_cap: str | None


@dataclass(frozen=True)
class GpuExpectation:
    """What the plan needs; product_name is the name nvidia-smi prints (e.g. "NVIDIA H200")."""

    product_name: str
    count: int
    memory_mib: int
    min_driver: str | None = None
    # Drivers and ECC settings move memory.total by a few hundred MiB; a different SKU is off by far more.
    memory_tolerance: float = 0.02


@dataclass(frozen=True)
class DiskSpace:
    """One line of `df -PB1 PATH`."""

    filesystem: str
    total_bytes: int
    used_bytes: int
    available_bytes: int
    mount_point: str


def _optional(value: str) -> str | None:
    return None if value.strip() in _NOT_AVAILABLE else value.strip()


def _mib(value: str, line: str) -> int:
    number = value.strip().removesuffix("MiB").strip()
    if not number.isdigit():
        raise GpuQueryError(f"memory.total {value.strip()!r} is not a number of MiB in line {line!r}")
    return int(number)


def parse_gpu_query(text: str) -> list[GpuInfo]:
    """Parse the GPU_QUERY_COMMAND output, or the `--format=csv` variant with a header and units."""
    rows = [row for row in csv.reader(text.splitlines(), skipinitialspace=True) if row]
    if not rows:
        return []
    columns: Sequence[str] = GPU_QUERY_FIELDS
    if rows[0][0].strip() == "index":
        columns = [_UNIT_SUFFIX.sub("", cell.strip()) for cell in rows[0]]
        rows = rows[1:]
        missing = [name for name in GPU_QUERY_FIELDS if name not in columns]
        if missing:
            raise GpuQueryError(f"nvidia-smi output lacks the columns {', '.join(missing)}")
    gpus = []
    for row in rows:
        line = ", ".join(row)
        if len(row) != len(columns):
            raise GpuQueryError(f"expected {len(columns)} fields, got {len(row)} in line {line!r}")
        cells = dict(zip(columns, row, strict=True))
        if not cells["index"].strip().isdigit():
            raise GpuQueryError(f"GPU index {cells['index']!r} is not a number in line {line!r}")
        gpus.append(
            GpuInfo(
                index=int(cells["index"]),
                name=cells["name"].strip(),
                memory_mib=_mib(cells["memory.total"], line),
                driver_version=_optional(cells["driver_version"]),
                compute_cap=_optional(cells["compute_cap"]),
            )
        )
    return gpus


def parse_df(text: str) -> DiskSpace:
    """Parse `df -PB1 PATH` (POSIX format, sizes in bytes)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("Filesystem"):
        raise ValueError(f"not `df -PB1` output: {text.strip()[:120]!r}")
    parts = lines[-1].split(None, 5)
    if len(parts) != 6 or not all(p.isdigit() for p in parts[1:4]):
        raise ValueError(f"cannot read the df line {lines[-1]!r}")
    return DiskSpace(parts[0], int(parts[1]), int(parts[2]), int(parts[3]), parts[5])


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _gpu_list(indices: Sequence[int]) -> str:
    return f"GPU {indices[0]}" if len(indices) == 1 else "GPUs " + ", ".join(str(i) for i in indices)


def _count(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB"


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _summary(gpus: Sequence[GpuInfo]) -> str:
    counts: dict[str, int] = {}
    for gpu in gpus:
        counts[gpu.name] = counts.get(gpu.name, 0) + 1
    return ", ".join(f"{n}x {name}" for name, n in counts.items())


def check_gpus(gpus: Sequence[GpuInfo], expectation: GpuExpectation) -> list[Finding]:
    """Compare what nvidia-smi listed with what the plan needs; one sentence per mismatch."""
    want = f"{expectation.count}x {expectation.product_name}"
    if not gpus:
        return [Finding("count", f"nvidia-smi listed no GPUs; the plan needs {want}.")]
    findings = []
    if len(gpus) != expectation.count:
        findings.append(
            Finding("count", f"Found {_count(len(gpus))} ({_summary(gpus)}); the plan needs {want}.")
        )

    wrong_names: dict[tuple[str, int], list[int]] = {}
    wrong_memory: dict[int, list[int]] = {}
    tolerance = expectation.memory_mib * expectation.memory_tolerance
    for gpu in gpus:
        if not _same_name(gpu.name, expectation.product_name):
            wrong_names.setdefault((gpu.name, gpu.memory_mib), []).append(gpu.index)
        elif abs(gpu.memory_mib - expectation.memory_mib) > tolerance:
            wrong_memory.setdefault(gpu.memory_mib, []).append(gpu.index)
    for (name, memory), indices in wrong_names.items():
        findings.append(
            Finding(
                "name",
                f"{_gpu_list(indices)}: {name} with {memory} MiB, expected {expectation.product_name} "
                f"with {expectation.memory_mib} MiB.",
            )
        )
    for memory, indices in wrong_memory.items():
        findings.append(
            Finding(
                "memory",
                f"{_gpu_list(indices)}: {memory} MiB of memory, expected {expectation.memory_mib} MiB "
                f"(within {expectation.memory_tolerance:.0%}).",
            )
        )

    no_driver = [gpu.index for gpu in gpus if gpu.driver_version is None]
    if no_driver:
        findings.append(Finding("driver", f"{_gpu_list(no_driver)}: nvidia-smi reports no driver version."))
    if expectation.min_driver is not None:
        minimum = _version(expectation.min_driver)
        too_old = sorted(
            {g.driver_version for g in gpus if g.driver_version and _version(g.driver_version) < minimum}
        )
        for driver in too_old:
            findings.append(
                Finding("driver", f"Driver {driver} is older than the required {expectation.min_driver}.")
            )
    return findings


def check_disk(space: DiskSpace, required_bytes: int, path: str) -> list[Finding]:
    """One finding if the filesystem holding `path` has less room than `required_bytes`."""
    if space.available_bytes >= required_bytes:
        return []
    return [
        Finding(
            "disk",
            f"Only {_gb(space.available_bytes)} free on {space.mount_point} (holding {path}); "
            f"{_gb(required_bytes)} needed.",
        )
    ]


def _last_line(result: CommandResult) -> str:
    for text in (result.stderr, result.stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return f"exit status {result.exit_status}"


@dataclass
class GpuPreflight:
    """Runs nvidia-smi, df and the weight-cache check on the pod and judges them against the plan.

    `cache_check` is a command that exits 0 when the weight cache is complete and otherwise prints why
    on the last line of its stderr or stdout; `cache_path` must exist on the pod (it is measured with df).
    """

    expectation: GpuExpectation
    cache_path: str
    required_free_bytes: int = 0
    cache_check: Sequence[str] | str | None = None
    command_timeout: float = 60.0
    name: str = "gpu-preflight"

    def run(self, shell: CommandRunner) -> StageResult:
        started = time.monotonic()
        findings: list[Finding] = []
        details: dict[str, object] = {}
        notes: list[str] = []
        try:
            notes.extend(self._check_gpus(shell, findings, details))
            notes.extend(self._check_disk(shell, findings, details))
            notes.extend(self._check_cache(shell, findings))
        except SshError as exc:
            findings.append(Finding("ssh", str(exc)))
        details["findings"] = [f.message for f in findings]
        seconds = time.monotonic() - started
        if findings:
            more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
            return StageResult(self.name, False, seconds, findings[0].message + more, details)
        return StageResult(self.name, True, seconds, "; ".join(notes), details)

    def _run(self, shell: CommandRunner, cmd: Sequence[str] | str, what: str) -> CommandResult | Finding:
        try:
            return shell.run(cmd, timeout=self.command_timeout)
        except SshCommandTimeout as exc:
            return Finding(what, str(exc))

    def _check_gpus(
        self, shell: CommandRunner, findings: list[Finding], details: dict[str, object]
    ) -> Iterable[str]:
        result = self._run(shell, list(GPU_QUERY_COMMAND), "driver")
        if isinstance(result, Finding):
            findings.append(result)
            return []
        if result.exit_status == 127:
            findings.append(
                Finding("driver", "nvidia-smi is not on the pod: the container sees no NVIDIA driver or GPU.")
            )
            return []
        if not result.ok:
            findings.append(
                Finding("driver", f"nvidia-smi failed (exit {result.exit_status}): {_last_line(result)}")
            )
            return []
        try:
            gpus = parse_gpu_query(result.stdout)
        except GpuQueryError as exc:
            findings.append(Finding("driver", f"Unreadable nvidia-smi output: {exc}"))
            return []
        details["gpus"] = [asdict(gpu) for gpu in gpus]
        findings.extend(check_gpus(gpus, self.expectation))
        drivers = ", ".join(sorted({gpu.driver_version or "unknown" for gpu in gpus}))
        each = ", ".join(sorted({f"{gpu.memory_mib} MiB" for gpu in gpus}))
        return [f"{_summary(gpus)} ({each} each), driver {drivers}"] if gpus else []

    def _check_disk(
        self, shell: CommandRunner, findings: list[Finding], details: dict[str, object]
    ) -> Iterable[str]:
        result = self._run(shell, ["df", "-PB1", self.cache_path], "disk")
        if isinstance(result, Finding):
            findings.append(result)
            return []
        if not result.ok:
            findings.append(
                Finding("disk", f"Cannot measure free disk at {self.cache_path}: {_last_line(result)}")
            )
            return []
        try:
            space = parse_df(result.stdout)
        except ValueError as exc:
            findings.append(Finding("disk", f"Unreadable df output for {self.cache_path}: {exc}"))
            return []
        details["free_bytes"] = space.available_bytes
        details["mount_point"] = space.mount_point
        findings.extend(check_disk(space, self.required_free_bytes, self.cache_path))
        return [f"{_gb(space.available_bytes)} free on {space.mount_point}"]

    def _check_cache(self, shell: CommandRunner, findings: list[Finding]) -> Iterable[str]:
        if self.cache_check is None:
            return []
        result = self._run(shell, self.cache_check, "cache")
        if isinstance(result, Finding):
            findings.append(result)
            return []
        if not result.ok:
            findings.append(
                Finding("cache", f"Weight cache at {self.cache_path} is incomplete: {_last_line(result)}")
            )
            return []
        return ["weight cache complete"]
