"""A stand-in `nvidia-smi` printing what EMULATOR_GPU_COUNT GPUs of EMULATOR_GPU_TYPE print.

Formats follow shared/fixtures/gpu/h200 byte for byte (the table, `-L`, `--query-gpu`).
While the fake engine holds the GPUs, memory.used shows what it allocated.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.emulator.models import GPUS, GpuSpec

# What the fake engine writes while it holds GPU memory (MiB used per GPU).
GPU_STATE_FILE = "run/gpu-memory.json"


@dataclass(frozen=True)
class Gpu:
    index: int
    spec: GpuSpec
    uuid: str
    bus_id: str
    used_mib: int

    @property
    def free_mib(self) -> int:
        return self.spec.memory_mib - 615 - self.used_mib


def _used_mib() -> int:
    sandbox = os.environ.get("EMULATOR_SANDBOX")
    if not sandbox:
        return 0
    state_path = Path(sandbox) / GPU_STATE_FILE
    try:
        state = json.loads(state_path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return 0
    return int(state["used_mib"])


def visible_gpus() -> list[Gpu]:
    spec = GPUS.get(os.environ.get("EMULATOR_GPU_TYPE", ""))
    count = int(os.environ.get("EMULATOR_GPU_COUNT", "0") or 0)
    if spec is None or count <= 0:
        return []
    pod = os.environ.get("RUNPOD_POD_ID", "pod")
    used = _used_mib()
    gpus = []
    for index in range(count):
        digest = hashlib.sha256(f"{pod}/{index}".encode()).hexdigest()
        uuid = f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        gpus.append(Gpu(index, spec, uuid, f"00000000:00:{6 + index:02X}.0", used))
    return gpus


def _field(unit: str, value: Callable[[Gpu], object]) -> tuple[str, Callable[[Gpu], object]]:
    return unit, value


# name -> (unit, value); values carry their unit as nvidia-smi prints it unless `nounits`.
FIELDS: dict[str, tuple[str, Callable[[Gpu], object]]] = {
    "index": _field("", lambda gpu: gpu.index),
    "count": _field("", lambda gpu: -1),
    "name": _field("", lambda gpu: gpu.spec.product_name),
    "gpu_name": _field("", lambda gpu: gpu.spec.product_name),
    "uuid": _field("", lambda gpu: gpu.uuid),
    "gpu_uuid": _field("", lambda gpu: gpu.uuid),
    "serial": _field("", lambda gpu: "0000000000000"),
    "memory.total": _field("MiB", lambda gpu: gpu.spec.memory_mib),
    "memory.reserved": _field("MiB", lambda gpu: 616),
    "memory.used": _field("MiB", lambda gpu: gpu.used_mib),
    "memory.free": _field("MiB", lambda gpu: gpu.free_mib),
    "driver_version": _field("", lambda gpu: gpu.spec.driver),
    "pci.bus_id": _field("", lambda gpu: gpu.bus_id),
    "gpu_bus_id": _field("", lambda gpu: gpu.bus_id),
    "compute_cap": _field("", lambda gpu: gpu.spec.compute_cap),
    "power.limit": _field("W", lambda gpu: f"{gpu.spec.power_limit_w:.2f}"),
    "power.draw": _field("W", lambda gpu: "103.00" if gpu.used_mib == 0 else "312.00"),
    "clocks.max.sm": _field("MHz", lambda gpu: gpu.spec.max_sm_mhz),
    "clocks.max.memory": _field("MHz", lambda gpu: gpu.spec.max_mem_mhz),
    "clocks.sm": _field("MHz", lambda gpu: 345 if gpu.used_mib == 0 else gpu.spec.max_sm_mhz),
    "clocks.mem": _field("MHz", lambda gpu: gpu.spec.max_mem_mhz),
    "temperature.gpu": _field("", lambda gpu: 37),
    "utilization.gpu": _field("%", lambda gpu: 0),
    "utilization.memory": _field("%", lambda gpu: 0),
    "ecc.errors.uncorrected.volatile.total": _field("", lambda gpu: 0),
    "persistence_mode": _field("", lambda gpu: "Enabled"),
    "pstate": _field("", lambda gpu: "P0"),
    "mig.mode.current": _field("", lambda gpu: "Disabled"),
    "compute_mode": _field("", lambda gpu: "Default"),
    "vbios_version": _field("", lambda gpu: "96.00.A5.00.1A"),
}


def query_csv(gpus: list[Gpu], fields: list[str], header: bool, units: bool) -> list[str]:
    lines = []
    if header:
        names = [f"{name} [{FIELDS[name][0]}]" if FIELDS[name][0] else name for name in fields]
        lines.append(", ".join(names))
    for gpu in gpus:
        values = []
        for name in fields:
            unit, value = FIELDS[name]
            text = str(len(gpus)) if name == "count" else str(value(gpu))
            values.append(f"{text} {unit}" if units and unit else text)
        lines.append(", ".join(values))
    return lines


def table(gpus: list[Gpu]) -> list[str]:
    spec = gpus[0].spec
    rule = "+-----------------------------------------+------------------------+----------------------+"
    banner = (
        f"NVIDIA-SMI {spec.driver:<23}Driver Version: {spec.driver:<15}CUDA Version: {spec.cuda_version:<8}"
    )
    lines = [
        f"{time.asctime()}       ",
        "+" + "-" * 89 + "+",
        f"| {banner:<87} |",
        rule,
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
        "|=========================================+========================+======================|",
    ]
    for gpu in gpus:
        power = "103W" if gpu.used_mib == 0 else "312W"
        memory = f"{gpu.used_mib}MiB / {gpu.spec.memory_mib}MiB"
        lines += [
            f"| {gpu.index:>3}  {gpu.spec.product_name:<29.29}{'On':>4}  |   {gpu.bus_id} Off |{'0':>21} |",
            f"| N/A   37C    P0 {power:>15} / {gpu.spec.power_limit_w:>4}W | {memory:>22} |      0%      Default |",
            "|                                         |                        |             Disabled |",
            rule,
        ]
    lines += [
        "",
        "+" + "-" * 89 + "+",
        "| Processes:" + " " * 78 + "|",
        "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |",
        "|        ID   ID                                                               Usage      |",
        "|" + "=" * 89 + "|",
        "|  No running processes found" + " " * 61 + "|",
        "+" + "-" * 89 + "+",
    ]
    return lines


def _parse_format(value: str) -> tuple[bool, bool] | None:
    options = [option.strip() for option in value.split(",")]
    if options[0] != "csv" or any(option not in ("csv", "noheader", "nounits") for option in options):
        return None
    return "noheader" not in options, "nounits" not in options


def _option(argv: list[str], index: int, name: str) -> tuple[str, int]:
    arg = argv[index]
    if arg.startswith(name + "="):
        return arg.split("=", 1)[1], index + 1
    return (argv[index + 1] if index + 1 < len(argv) else ""), index + 2


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    gpus = visible_gpus()
    if not gpus:
        print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.")  # fmt: skip
        return 9
    query: list[str] | None = None
    csv_format: tuple[bool, bool] | None = None
    only: set[int] | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-L", "--list-gpus"):
            for gpu in gpus:
                print(f"GPU {gpu.index}: {gpu.spec.product_name} (UUID: {gpu.uuid})")
            return 0
        if arg.startswith("--query-gpu"):
            text, index = _option(args, index, "--query-gpu")
            query = [field.strip() for field in text.split(",") if field.strip()]
        elif arg.startswith("--format"):
            text, index = _option(args, index, "--format")
            csv_format = _parse_format(text)
            if csv_format is None:
                print(f'"{text}" is not a valid format.')
                return 2
        elif arg in ("-i", "--id") or arg.startswith("--id="):
            text, index = _option(args, index, "--id")
            only = {int(part) for part in text.split(",") if part.strip().isdigit()}
        else:
            print('Invalid combination of input arguments. Please run "nvidia-smi -h" for help.\n')
            return 2
    selected = [gpu for gpu in gpus if only is None or gpu.index in only]
    if query is not None:
        unknown = [field for field in query if field not in FIELDS]
        if unknown:
            print(f'Field "{unknown[0]}" is not a valid field to query.\n')
            return 2
        if csv_format is None:
            print("Must specify format for query options. Please run 'nvidia-smi -h' for help.")
            return 2
        print("\n".join(query_csv(selected, query, header=csv_format[0], units=csv_format[1])))
        return 0
    print("\n".join(table(selected)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
