"""Measure how fast a mounted volume reads real checkpoint files, with parallel sequential readers.

This module is deliberately ONE file importing only the standard library, because it runs alone in a
CPU pod (the pre-fill pod, a short pod like the canary's, or the Kubernetes download Job):

    python3 - --data-center EU-RO-1 --tier STANDARD --readers 1,4,16 /workspace/hf/hub < infra/read_rate_probe.py

It prints ONE JSON line and exits 0, also when the measurement fails (then `error` says why and `levels`
is empty): a failed measurement must never block a run; the plan falls back to the published rate.

Page-cache hits do not count. Files are opened with O_DIRECT where the filesystem allows it; elsewhere the
probe asks the kernel to drop the file's cached pages (posix_fadvise DONTNEED) before reading them. Every
level reads byte ranges no earlier level read, so neither the host's nor the storage server's cache sees
the same bytes twice. `--scratch DIR` writes probe files first (for a disk without checkpoint files, such
as the container disk), syncs them and drops them from the page cache before reading them back.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import json
import mmap
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PROBE = "v4infra-read-rate"
VERSION = 1
ALIGN = 4096  # O_DIRECT needs offsets, lengths and buffers aligned to the logical block size (<= 4 KiB)
DEFAULT_BLOCK = (
    16 * 1024 * 1024
)  # the size of one read, as vLLM's prefetch reads (vllm/config/load.py, 0.25.0)
DEFAULT_PER_READER = 1024 * 1024 * 1024
# `--per-reader auto`: at most DEFAULT_PER_READER, smaller for a small checkpoint so every level fits; chunks
# smaller than MIN_AUTO_PER_READER would time the reader's own overhead more than the storage.
MIN_AUTO_PER_READER = 64 * 1024


@dataclass(frozen=True)
class Chunk:
    """One reader's share of a level: a byte range of one file."""

    path: str
    offset: int
    length: int


def checkpoint_files(paths: Sequence[str], pattern: str) -> list[tuple[str, int]]:
    """Regular files under `paths` matching `pattern` (symlinks followed, each real file once), by name."""
    seen: dict[str, int] = {}
    for root in paths:
        candidates: Iterator[Path]
        base = Path(root)
        candidates = iter([base]) if base.is_file() else base.rglob("*")
        for path in candidates:
            if not fnmatch.fnmatch(path.name, pattern) or not path.is_file():
                continue
            real = os.path.realpath(path)
            seen.setdefault(real, os.stat(real).st_size)
    return sorted(seen.items())


def plan_levels(
    files: Sequence[tuple[str, int]], readers: Sequence[int], per_reader: int, block: int
) -> list[list[Chunk]]:
    """Disjoint chunks for each level, in order; a level that cannot give every reader a full chunk is
    dropped, so each level measures what it says."""
    per_reader = max(block, per_reader - per_reader % block)
    cursor = [(path, 0, size - size % ALIGN) for path, size in files]  # remaining aligned bytes per file
    levels: list[list[Chunk]] = []
    for count in readers:
        chunks: list[Chunk] = []
        for i, (path, start, end) in enumerate(cursor):
            while len(chunks) < count and end - start >= per_reader:
                chunks.append(Chunk(path, start, per_reader))
                start += per_reader
            cursor[i] = (path, start, end)
            if len(chunks) == count:
                break
        if len(chunks) < count:
            break
        levels.append(chunks)
    return levels


def _open(path: str, direct: bool) -> tuple[int, bool]:
    """A read-only descriptor, with O_DIRECT where the filesystem takes it."""
    flag = getattr(os, "O_DIRECT", 0)
    if direct and flag:
        try:
            return os.open(path, os.O_RDONLY | flag), True
        except OSError:
            pass  # tmpfs, some FUSE and overlay mounts refuse O_DIRECT (EINVAL)
    return os.open(path, os.O_RDONLY), False


def _read_chunk(chunk: Chunk, block: int, direct: bool, used_direct: list[bool]) -> int:
    fd, is_direct = _open(chunk.path, direct)
    used_direct.append(is_direct)
    buf = mmap.mmap(-1, block)  # page-aligned, as O_DIRECT requires
    done = 0
    try:
        if not is_direct and hasattr(os, "posix_fadvise"):
            # Drop any cached pages of this range so the read goes to the storage, not to RAM.
            os.posix_fadvise(fd, chunk.offset, chunk.length, os.POSIX_FADV_DONTNEED)
        while done < chunk.length:
            n = os.preadv(fd, [memoryview(buf)[: min(block, chunk.length - done)]], chunk.offset + done)
            if n <= 0:
                break
            done += n
    finally:
        buf.close()
        os.close(fd)
    return done


def read_level(chunks: Sequence[Chunk], block: int, direct: bool) -> dict[str, object]:
    """Read every chunk at once, one thread each (reads release the GIL); bytes and seconds for all."""
    results = [0] * len(chunks)
    used_direct: list[bool] = []
    errors: list[str] = []
    start = threading.Barrier(len(chunks) + 1)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = _read_chunk(chunks[i], block, direct, used_direct)
        except OSError as err:
            errors.append(f"{chunks[i].path}: {err.strerror or err}")

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(chunks))]
    for t in threads:
        t.start()
    start.wait()
    began = time.monotonic()
    for t in threads:
        t.join()
    seconds = max(time.monotonic() - began, 1e-9)
    if errors:
        raise OSError(errors[0])
    total = sum(results)
    return {
        "readers": len(chunks),
        "bytes": total,
        "seconds": round(seconds, 6),
        "bytes_per_s": round(total / seconds),
        "direct": all(used_direct),
    }


def fs_type(path: str) -> str | None:
    """The filesystem type of the mount holding `path`, from /proc/mounts (vLLM reads the same)."""
    best, kind = "", None
    real = os.path.realpath(path)
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3:
                point = fields[1].replace("\\040", " ")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best, kind = point, fields[2]
    return kind


def write_scratch(directory: str, count: int, size: int) -> list[str]:
    """Probe files on a disk without checkpoint files; synced and dropped from the page cache."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    block = os.urandom(1024 * 1024)  # random bytes: a compressing or deduplicating disk cannot shortcut them
    for i in range(count):
        path = os.path.join(directory, f"v4infra-read-probe-{i}.bin")
        with open(path, "wb") as out:
            left = size
            while left > 0:
                left -= out.write(block[: min(len(block), left)])
            out.flush()
            os.fsync(out.fileno())
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        paths.append(path)
    return paths


def auto_per_reader(files: Sequence[tuple[str, int]], readers: Sequence[int]) -> int:
    """Bytes per reader per level for these files: every level fits, a chunk never spanning two files."""
    total = sum(size for _, size in files)
    per_reader = min(DEFAULT_PER_READER, total // (sum(readers) + len(files)))
    per_reader -= per_reader % ALIGN
    if per_reader < MIN_AUTO_PER_READER:
        raise ValueError(f"{total:,} bytes of checkpoint files are too few to time reads of")
    return per_reader


def measure(args: argparse.Namespace) -> dict[str, object]:
    readers = sorted({int(n) for n in str(args.readers).split(",") if n.strip()})
    if not readers or readers[0] < 1:
        raise ValueError(f"--readers needs positive counts, got {args.readers!r}")
    if args.per_reader == "auto" and args.scratch:
        raise ValueError("--per-reader auto sizes chunks from checkpoint files; give a size with --scratch")
    per_reader = 0 if args.per_reader == "auto" else int(args.per_reader)
    scratch: list[str] = []
    if args.scratch:
        # One file per reader per level: every level reads bytes no earlier level read.
        scratch = write_scratch(args.scratch, sum(readers), per_reader)
    try:
        files = checkpoint_files(scratch or args.paths, "*" if scratch else args.pattern)
        if not files:
            raise FileNotFoundError(f"no files matching {args.pattern} under {', '.join(args.paths)}")
        per_reader = per_reader or auto_per_reader(files, readers)
        block = min(args.block, per_reader)
        levels = plan_levels(files, readers, per_reader, block)
        if not levels:
            need = readers[0] * per_reader
            raise ValueError(f"the files hold less than one level ({need} bytes for {readers[0]} readers)")
        measured = [read_level(chunks, block, not args.no_direct) for chunks in levels]
    finally:
        for path in scratch:
            with contextlib.suppress(OSError):
                os.remove(path)
    return {
        "files": len(files),
        "file_bytes": sum(size for _, size in files),
        "levels": measured,
        "method": "o_direct" if all(m["direct"] for m in measured) else "fadvise_dontneed",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="read_rate_probe", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[], help="checkpoint files or directories to read")
    parser.add_argument("--data-center", required=True, help="where the volume lives, e.g. EU-RO-1")
    parser.add_argument("--tier", required=True, help="the volume tier or storage kind, e.g. STANDARD")
    parser.add_argument(
        "--storage", default="network-volume", help="what is measured (network-volume, pvc, container-disk)"
    )
    parser.add_argument("--readers", default="1,4,16", help="reader counts to try, comma-separated")
    parser.add_argument(
        "--per-reader",
        default=str(DEFAULT_PER_READER),
        help="bytes each reader reads per level, or auto (sized from the checkpoint files found)",
    )
    parser.add_argument(
        "--block", type=int, default=DEFAULT_BLOCK, help="bytes per read call (a multiple of 4096)"
    )
    parser.add_argument("--pattern", default="*.safetensors", help="file names to read under directories")
    parser.add_argument("--scratch", help="write probe files here first (a disk without checkpoint files)")
    parser.add_argument(
        "--no-direct", action="store_true", help="never use O_DIRECT (drop cached pages instead)"
    )
    args = parser.parse_args(argv)
    where = args.scratch or (args.paths[0] if args.paths else "")
    record: dict[str, object] = {
        "probe": PROBE,
        "version": VERSION,
        "data_center": args.data_center,
        "tier": args.tier,
        "storage": args.storage,
        "path": where,
        "fs_type": fs_type(where) if where else None,
        "block_bytes": args.block,
        # timezone.utc, not datetime.UTC: the pod's python3 may be older than 3.11.
        "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),  # noqa: UP017
        "levels": [],
        "error": None,
    }
    try:
        if args.block % ALIGN or args.block <= 0:
            raise ValueError(f"--block must be a positive multiple of {ALIGN}, got {args.block}")
        if not args.paths and not args.scratch:
            raise ValueError("give checkpoint paths to read, or --scratch DIR")
        record.update(measure(args))
    except (OSError, ValueError) as err:
        record["error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(record, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
