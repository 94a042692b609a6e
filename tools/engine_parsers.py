"""Which packages an engine's argument parser needs, picked from pip's own resolution of the engine.

Used by tools/build-engine-parsers.sh (see tools/README.md). The engine's own metadata (`pip install
--dry-run --no-deps --report` of `vllm==X` or `sglang==X`) gives its requirements; `requirements` turns
the names its parser imports, and torch, into those requirements (the engine's extras and versions), and
pip resolves just these (`--dry-run --report`), never the engine's whole tree, whose GPU-only packages
may not even resolve here (a placeholder sdist that downloads from pypi.nvidia.com). `select` keeps:

- the torch layer: torch and the CUDA libraries it pins exactly (`==`), which its shared objects link
  against, so `import torch` works on a machine without a GPU. The libraries torch usually opens only on
  demand (LAZY) are held back, and `layer` adds one back only when `import torch` names its missing
  shared object (torch 2.14 links nvrtc, 2.11 does not), so the tree is the smallest that imports;
- the engine venv: the engine itself, the packages its parser's imports need (tools/engine-parsers/
  <engine>.txt, one name a line) and their dependencies, at the versions pip resolved.

Everything is installed with `--no-deps` at exactly these versions, so nothing else is pulled in.

    python tools/engine_parsers.py requirements ENGINE.json ROOTS.txt ENGINE   # what to resolve
    python tools/engine_parsers.py select RESOLUTION.json ENGINE.json ROOTS.txt ENGINE   # prints JSON
    python tools/engine_parsers.py layer SELECTION.json PYTHON DIR              # installs the torch layer
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Libraries torch opens only when a CUDA feature is used (libtorch_cuda_linalg -> cusolver, libcaffe2_nvrtc
# -> nvrtc, NVTX markers) and the Triton compiler, which vLLM and SGLang treat as optional on CPU
# (vllm/triton_utils/importing.py). None of them is a DT_NEEDED of the libraries `import torch` loads.
LAZY = frozenset(
    {"triton", "nvidia-cusolver", "nvidia-cuda-nvrtc", "nvidia-nvtx", "cuda-bindings", "cuda-pathfinder"}
)
# torch's extension packages: each links libtorch_cuda and none is imported by an argument parser.
TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio", "torchcodec", "triton"})


def _index(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"] for item in report["install"]}


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    if req.marker is None:
        return True
    # evaluate() fills in this interpreter's environment (python_version, platform_machine, ...).
    return any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def _requirements(meta: dict[str, Any], extras: frozenset[str]) -> list[Requirement]:
    reqs = [Requirement(text) for text in meta.get("requires_dist") or []]
    return [r for r in reqs if _applies(r, extras)]


def _closure(
    index: dict[str, dict[str, Any]], roots: list[Requirement], stop: frozenset[str]
) -> dict[str, frozenset[str]]:
    """Every resolved package reachable from `roots`, with the extras asked of it; `stop` is not entered."""
    seen: dict[str, frozenset[str]] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in stop or name not in index:
            continue  # not installed by this resolution (a marker excluded it) or deliberately left out
        extras = seen.get(name, frozenset()) | frozenset(req.extras)
        if name in seen and extras == seen[name]:
            continue
        seen[name] = extras
        todo.extend(_requirements(index[name], extras))
    return seen


def _engine_meta(engine_report: dict[str, Any], engine: str) -> dict[str, Any]:
    index = _index(engine_report)
    if canonicalize_name(engine) not in index:
        raise SystemExit(f"engine_parsers: the engine report has no {engine}")
    return index[canonicalize_name(engine)]


def _line(req: Requirement) -> str:
    """A requirement without its marker (already evaluated for this interpreter)."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def requirements(engine_report: dict[str, Any], roots: list[str], engine: str) -> list[str]:
    """What to resolve: each root and torch, as the engine requires them (or by name where it does not)."""
    declared: dict[str, Requirement] = {
        canonicalize_name(r.name): r for r in _requirements(_engine_meta(engine_report, engine), frozenset())
    }
    names = dict.fromkeys([*(canonicalize_name(n) for n in roots), "torch"])
    return [_line(declared[n]) if n in declared else n for n in names]


def select(
    report: dict[str, Any], engine_report: dict[str, Any], roots: list[str], engine: str
) -> dict[str, Any]:
    engine_name = canonicalize_name(engine)
    index = {**_index(report), engine_name: _engine_meta(engine_report, engine)}
    if "torch" not in index:
        raise SystemExit("engine_parsers: the resolution has no torch")
    torch_reqs = _requirements(index["torch"], frozenset())
    pinned = [r for r in torch_reqs if any(s.operator == "==" for s in r.specifier)]
    layer = {"torch", *_closure(index, pinned, LAZY)}
    # The held-back libraries of this torch (not its compiler or extensions), for `layer` to add on demand.
    on_demand = set(_closure(index, pinned, TORCH_FAMILY)) - layer
    # The engine's own requirement for a root carries the extras it asks for (fastapi[standard]).
    wanted = {canonicalize_name(n) for n in roots}
    asked = [r for r in _requirements(index[engine_name], frozenset()) if canonicalize_name(r.name) in wanted]
    missing = wanted - {canonicalize_name(r.name) for r in asked}
    venv_roots = [*asked, *(Requirement(n) for n in sorted(missing))]
    venv_roots += [r for r in torch_reqs if r not in pinned]  # torch's pure-Python dependencies
    # A root named in the list is installed even where torch would open it lazily (SGLang imports triton).
    venv = _closure(index, venv_roots, (frozenset(layer) | LAZY | TORCH_FAMILY) - wanted)
    venv.pop(engine_name, None)

    def pins(names: set[str] | dict[str, frozenset[str]]) -> list[str]:
        return sorted(f"{index[n]['name']}=={index[n]['version']}" for n in names)

    return {
        "engine": f"{index[engine_name]['name']}=={index[engine_name]['version']}",
        "torch": index["torch"]["version"],
        "layer": pins(layer),
        "layer_on_demand": pins(on_demand),
        "venv": pins(venv),
        "not_resolved": sorted(missing - set(venv)),
    }


# The loader's words for a shared object it could not find (glibc dlopen, as Python's ImportError quotes it).
MISSING_LIBRARY = re.compile(r"(lib[\w.+-]+?)\.so[\w.]*: cannot open shared object file")


def _missing_library(python: str, layer: Path) -> str | None:
    """The stem of the shared object `import torch` misses from the layer (None when it imports)."""
    env = {**os.environ, "PYTHONPATH": str(layer)}
    proc = subprocess.run(
        [python, "-c", "import torch"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return None
    match = MISSING_LIBRARY.search(proc.stderr)
    if match is None:
        raise SystemExit(f"engine_parsers: torch does not import from {layer}:\n{proc.stderr[-2000:]}")
    return match.group(1).removeprefix("lib").lower()


def _pip_install(python: str, layer: Path, pins: list[str]) -> None:
    # `pip install --target` skips a top-level directory that exists (the `nvidia/` namespace), so each
    # addition is installed on its own and merged into the tree.
    with tempfile.TemporaryDirectory(dir=layer.parent) as scratch:
        cmd = [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-cache-dir",
            "--target",
            scratch,
            *pins,
        ]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        shutil.copytree(scratch, layer, dirs_exist_ok=True, symlinks=True)


def install_layer(selection: dict[str, Any], python: str, layer: Path) -> list[str]:
    """Install the torch layer into `layer`, adding a held-back library only when torch needs it."""
    installed = list(selection["layer"])
    spare = list(selection["layer_on_demand"])
    _pip_install(python, layer, installed)
    while (stem := _missing_library(python, layer)) is not None:
        # The package that ships lib<stem> names it (nvidia-cuda-nvrtc: libnvrtc); otherwise every spare one.
        named = [p for p in spare if stem.replace("_", "-") in p.split("==")[0].lower()]
        add = named or spare
        if not add:
            raise SystemExit(f"engine_parsers: torch needs lib{stem}, which no package torch pins provides")
        print(f"engine_parsers: torch needs lib{stem}: adding {', '.join(add)}", file=sys.stderr)
        _pip_install(python, layer, add)
        installed += add
        spare = [p for p in spare if p not in add]
    return sorted(installed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="engine_parsers.py")
    sub = parser.add_subparsers(dest="command", required=True)
    req = sub.add_parser("requirements", help="print what to resolve, one requirement a line")
    req.add_argument("engine_report", type=Path)
    req.add_argument("roots", type=Path)
    req.add_argument("engine")
    sel = sub.add_parser("select", help="print the torch layer and the engine venv as JSON")
    sel.add_argument("report", type=Path)
    sel.add_argument("engine_report", type=Path)
    sel.add_argument("roots", type=Path)
    sel.add_argument("engine")
    lay = sub.add_parser("layer", help="install the torch layer of a selection; print what it holds")
    lay.add_argument("selection", type=Path)
    lay.add_argument("python", help="the engine venv's python (it has torch's pure-Python dependencies)")
    lay.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "layer":
        selection = json.loads(args.selection.read_text(encoding="utf-8"))
        print("\n".join(install_layer(selection, args.python, args.dir)))
        return 0
    roots = [
        line.split("#", 1)[0].strip()
        for line in args.roots.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]
    engine_report = json.loads(args.engine_report.read_text(encoding="utf-8"))
    if args.command == "requirements":
        print("\n".join(requirements(engine_report, roots, args.engine)))
        return 0
    report = json.loads(args.report.read_text(encoding="utf-8"))
    print(json.dumps(select(report, engine_report, roots, args.engine), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
