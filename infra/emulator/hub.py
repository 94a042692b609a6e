"""A local stand-in for the Hugging Face Hub, so the real `huggingface_hub` client can be tested offline.

It speaks the part of the Hub's HTTP protocol that `huggingface_hub` 2.4.0 uses to download a snapshot,
for models and (with the `datasets/` prefix the client adds, `constants.REPO_TYPES_URL_PREFIXES`) datasets:

    GET      /api/{models|datasets}/{repo}[/revision/{rev}]     info; `?blobs=true` adds sizes and LFS sha256
    GET      /api/{models|datasets}/{repo}/tree/{rev}[/{path}]  tree listing (`?recursive=true`)
    HEAD|GET [/datasets]/{repo}/resolve/{rev}/{path}            regular file: 200, ETag (git blob id),
                                                      X-Repo-Commit; LFS file: 302 to a CDN host with
                                                      X-Linked-Etag/-Size
    HEAD|GET /_cdn[/datasets]/{repo}/{sha256}                   LFS content, no auth (a signed URL), Range

`add_gsm8k` serves a small dataset in `openai/gsm8k`'s real layout (README.md with its configs, main/ and
socratic/ parquet files with `question` and `answer` columns) whose problems are generated here.

The CDN answers on `cdn_host` (default `localhost`), a different origin from `127.0.0.1`, so the client
treats it as the Hub treats its CDN: it stops at the redirect and drops the Authorization header. No Xet
headers are ever sent, so the client falls back to plain HTTP downloads.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Literal, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from infra.emulator.quiet_server import QuietThreadingHTTPServer

BreakMode = Literal["truncate", "corrupt"]
RepoType = Literal["model", "dataset"]

# Patterns the Hub's default .gitattributes stores in LFS; anything this big or bigger is LFS too.
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.model", "*.parquet")
LFS_MIN_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_CORRUPT = bytes(range(256))[::-1]


def git_blob_id(data: bytes) -> str:
    """The git object id (sha1) of a file's content, which the Hub uses as ETag for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class HubFile:
    """One file of a commit, with the ids the Hub reports for it."""

    path: str
    data: bytes
    lfs: bool
    sha256: str
    # Git id of the content (regular file) or of the LFS pointer file (LFS file), as the Hub reports it.
    blob_id: str
    pointer_size: int

    @classmethod
    def build(cls, path: str, data: bytes) -> HubFile:
        sha256 = hashlib.sha256(data).hexdigest()
        lfs = len(data) >= LFS_MIN_BYTES or any(fnmatch.fnmatch(path, p) for p in LFS_PATTERNS)
        if not lfs:
            return cls(path, data, False, sha256, git_blob_id(data), 0)
        pointer = (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        )
        return cls(path, data, True, sha256, git_blob_id(pointer), len(pointer))

    @property
    def etag(self) -> str:
        """What the client stores the blob under: sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.blob_id


def _key(repo_id: str, repo_type: RepoType) -> str:
    """Models and datasets live in separate namespaces on the Hub, as in its URLs."""
    return repo_id if repo_type == "model" else f"datasets/{repo_id}"


@dataclass
class _Repo:
    repo_id: str
    repo_type: RepoType = "model"
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    simulated_size: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _key(self.repo_id, self.repo_type)

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


@dataclass
class _Fault:
    mode: BreakMode
    times: int


class FakeHub:
    """A Hugging Face Hub on 127.0.0.1 serving the repos registered with `add_repo`.

    `token`: when set, every repo is gated: requests without `Authorization: Bearer <token>` get 401 and a
    wrong token gets 403, both with `X-Error-Code: GatedRepo` as the Hub sends.
    `throttle_bytes_per_second` / `time_scale`: serving a file takes (declared size / throughput) simulated
    seconds, one real second standing for `time_scale` simulated ones; the declared size is the file's
    `simulated_size` entry, or its real length.
    """

    def __init__(
        self,
        port: int = 0,
        token: str | None = None,
        *,
        throttle_bytes_per_second: float | None = None,
        time_scale: float = 1.0,
        cdn_host: str = "localhost",
    ) -> None:
        self._token = token
        self._throttle = throttle_bytes_per_second
        self._time_scale = time_scale
        self._cdn_host = cdn_host
        self._repos: dict[str, _Repo] = {}
        self._faults: dict[tuple[str, str], _Fault] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self._server = QuietThreadingHTTPServer(("127.0.0.1", port), _HubHandler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint to give the client (`HF_ENDPOINT` or `endpoint=`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-hub", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- content -----------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        revision_sha: str | None = None,
        *,
        branch: str = "main",
        simulated_size: Mapping[str, int] | None = None,
        repo_type: RepoType = "model",
    ) -> str:
        """Add a commit holding `files` and point `branch` at it; returns the commit sha.

        Adding to an existing repo makes a new commit, as a push would; older commits stay downloadable.
        """
        if repo_id.count("/") != 1:
            raise ValueError(f"repo id must be 'org/name', got {repo_id!r}")
        built = {path: HubFile.build(path, data) for path, data in sorted(files.items())}
        if revision_sha is None:
            digest = hashlib.sha1(_key(repo_id, repo_type).encode(), usedforsecurity=False)
            for hub_file in built.values():
                digest.update(f"{hub_file.path}\0{hub_file.blob_id}\0".encode())
            revision_sha = digest.hexdigest()
        if len(revision_sha) != 40 or any(c not in "0123456789abcdef" for c in revision_sha):
            raise ValueError(f"revision_sha must be 40 lowercase hex digits, got {revision_sha!r}")
        with self._lock:
            repo = self._repos.setdefault(_key(repo_id, repo_type), _Repo(repo_id, repo_type))
            repo.commits[revision_sha] = built
            repo.refs[branch] = revision_sha
            repo.simulated_size.update(simulated_size or {})
        return revision_sha

    def add_fake_checkpoint(
        self,
        repo_id: str,
        shards: int = 3,
        shard_bytes: int = 4096,
        *,
        revision_sha: str | None = None,
        simulated_shard_bytes: int | None = None,
    ) -> str:
        """Add a tiny DeepSeek-V4-shaped checkpoint (valid safetensors shards); returns the commit sha.

        `simulated_shard_bytes` declares each shard that large for throttled serving.
        """
        files = fake_checkpoint_files(repo_id, shards, shard_bytes)
        simulated = (
            {name: simulated_shard_bytes for name in files if name.endswith(".safetensors")}
            if simulated_shard_bytes is not None
            else None
        )
        return self.add_repo(repo_id, files, revision_sha, simulated_size=simulated)

    def add_gsm8k(self, repo_id: str = "openai/gsm8k", test_rows: int = 60, train_rows: int = 16) -> str:
        """Add a small GSM8K dataset in the real repo's layout (see `gsm8k_files`); returns the commit."""
        return self.add_repo(repo_id, gsm8k_files(test_rows, train_rows), repo_type="dataset")

    def commit(self, repo_id: str, revision: str = "main", repo_type: RepoType = "model") -> str:
        """The commit sha a revision of a repo resolves to."""
        sha = self._repos[_key(repo_id, repo_type)].resolve(revision)
        if sha is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return sha

    def files(
        self, repo_id: str, revision: str = "main", repo_type: RepoType = "model"
    ) -> dict[str, HubFile]:
        """The files of a repo at a revision, as served."""
        repo = self._repos[_key(repo_id, repo_type)]
        return dict(repo.commits[self.commit(repo_id, revision, repo_type)])

    # -- faults and counters -----------------------------------------------------------------

    def break_file(
        self,
        repo_id: str,
        filename: str,
        mode: BreakMode = "truncate",
        times: int = 1,
        repo_type: RepoType = "model",
    ) -> None:
        """Make the next `times` downloads of a file go wrong.

        `truncate`: announce the full length, send half, close the connection.
        `corrupt`: send the announced number of bytes, all of them wrong.
        """
        if mode not in ("truncate", "corrupt"):
            raise ValueError(f"mode must be 'truncate' or 'corrupt', got {mode!r}")
        with self._lock:
            self._faults[(_key(repo_id, repo_type), filename)] = _Fault(mode, times)

    def bytes_served(self, repo_id: str, repo_type: RepoType = "model") -> int:
        """File content bytes sent for a repo so far (API responses and headers not counted)."""
        with self._lock:
            return self._served.get(_key(repo_id, repo_type), 0)

    # -- used by the handler -----------------------------------------------------------------

    def _take_fault(self, repo_id: str, paths: list[str]) -> BreakMode | None:
        with self._lock:
            for path in paths:
                fault = self._faults.get((repo_id, path))
                if fault is not None and fault.times > 0:
                    fault.times -= 1
                    return fault.mode
        return None

    def _count(self, repo_id: str, n: int) -> None:
        with self._lock:
            self._served[repo_id] = self._served.get(repo_id, 0) + n

    def _seconds_to_send(self, repo: _Repo, hub_file: HubFile, n: int) -> float:
        if not self._throttle or not hub_file.data:
            return 0.0
        declared = repo.simulated_size.get(hub_file.path, len(hub_file.data))
        return declared * (n / len(hub_file.data)) / self._throttle / self._time_scale


def fake_checkpoint_files(repo_id: str, shards: int = 3, shard_bytes: int = 4096) -> dict[str, bytes]:
    """The files of a tiny DeepSeek-V4-shaped checkpoint; shard bytes are deterministic per repo and index."""
    if shards < 1:
        raise ValueError("a checkpoint needs at least one shard")
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    for index in range(1, shards + 1):
        name = f"model-{index:05d}-of-{shards:05d}.safetensors"
        tensor = f"model.layers.{index - 1}.ffn.experts.weight"
        files[name] = _safetensors_shard(tensor, shard_bytes, seed=f"{repo_id}:{index}")
        weight_map[tensor] = name
    config = {
        "architectures": ["DeepseekV4ForCausalLM"],
        "model_type": "deepseek_v4",
        "num_hidden_layers": shards,
        "hidden_size": 4096,
        "max_position_embeddings": 1048576,
        "torch_dtype": "bfloat16",
    }
    index_json = {"metadata": {"total_size": shards * shard_bytes}, "weight_map": weight_map}
    files["config.json"] = _json(config)
    files["model.safetensors.index.json"] = _json(index_json)
    files["generation_config.json"] = _json({"bos_token_id": 0, "eos_token_id": 1})
    files["tokenizer.json"] = _json(
        {"version": "1.0", "model": {"type": "BPE", "vocab": {"<bos>": 0, "<eos>": 1}}}
    )
    files["tokenizer_config.json"] = _json({"bos_token": "<bos>", "eos_token": "<eos>"})
    files[".gitattributes"] = "".join(
        f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS
    ).encode()
    return files


# The dataset card's YAML header as openai/gsm8k has it: two configs, each a train and a test split.
_GSM8K_CARD = """---
language:
- en
license: mit
task_categories:
- text2text-generation
pretty_name: Grade School Math 8K
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train-*
  - split: test
    path: main/test-*
- config_name: socratic
  data_files:
  - split: train
    path: socratic/train-*
  - split: test
    path: socratic/test-*
---

# A stand-in for GSM8K

Problems generated by the deepseek-v4-infra emulator in GSM8K's format: a `question`, and an `answer` that
works it out with calculator annotations (`<<a*b=c>>c`) and ends in `#### N`.
"""


def _gsm8k_problem(index: int) -> tuple[str, str]:
    """One generated word problem and its worked answer in GSM8K's format; deterministic per index."""
    a, b, c = 3 + index % 17, 2 + (index * 7) % 9, 4 + (index * 5) % 13
    kind = index % 4
    if kind == 0:
        total = a + a * b
        question = (
            f"Mia sold {a} cupcakes on Monday and {b} times as many on Tuesday. "
            "How many cupcakes did she sell on the two days?"
        )
        steps = f"On Tuesday she sold {a} * {b} = <<{a}*{b}={a * b}>>{a * b} cupcakes.\n"
        steps += f"Altogether she sold {a} + {a * b} = <<{a}+{a * b}={total}>>{total} cupcakes."
    elif kind == 1:
        total = a * c - b
        question = (
            f"A box holds {c} pencils. Omar buys {a} boxes and gives {b} pencils to his sister. "
            "How many pencils does he keep?"
        )
        steps = f"He buys {a} * {c} = <<{a}*{c}={a * c}>>{a * c} pencils.\n"
        steps += f"He keeps {a * c} - {b} = <<{a * c}-{b}={total}>>{total} pencils."
    elif kind == 2:
        total = (a + b) * c
        question = (
            f"A farmer plants {a} rows of corn and {b} rows of beans. Every row has {c} plants. "
            "How many plants are there in total?"
        )
        steps = f"There are {a} + {b} = <<{a}+{b}={a + b}>>{a + b} rows.\n"
        steps += f"So there are {a + b} * {c} = <<{a + b}*{c}={total}>>{total} plants."
    else:
        price, count = 2 * c, 10 * a
        total = price * count
        question = (
            f"Tickets to the school play cost ${price} each. The class sold {count} tickets. "
            "How many dollars did the class collect?"
        )
        steps = f"The class collected {price} * {count} = <<{price}*{count}={total}>>{total:,} dollars."
    return question, f"{steps}\n#### {total}"


def gsm8k_files(test_rows: int = 60, train_rows: int = 16) -> dict[str, bytes]:
    """The files of a small dataset laid out like the hub's `openai/gsm8k` (parquet written with pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(start: int, rows: int, socratic: bool) -> bytes:
        problems = [_gsm8k_problem(start + i) for i in range(rows)]
        answers = [
            "How many in all? ** " + answer.replace("\n", "\nWhat comes next? ** ", 1) if socratic else answer
            for _, answer in problems
        ]
        table = pa.table({"question": [q for q, _ in problems], "answer": answers})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()

    files: dict[str, bytes] = {"README.md": _GSM8K_CARD.encode()}
    for config in ("main", "socratic"):
        socratic = config == "socratic"
        files[f"{config}/test-00000-of-00001.parquet"] = parquet(0, test_rows, socratic)
        files[f"{config}/train-00000-of-00001.parquet"] = parquet(10_000, train_rows, socratic)
    files[".gitattributes"] = "".join(
        f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS
    ).encode()
    return files


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _safetensors_shard(tensor: str, total_bytes: int, seed: str) -> bytes:
    """A valid safetensors file of exactly `total_bytes`: one uint8 tensor of deterministic bytes."""
    data_len = total_bytes
    for _ in range(4):  # the header holds the data length, so settle the two together
        header = json.dumps(
            {
                "__metadata__": {"format": "pt"},
                tensor: {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]},
            }
        ).encode()
        header += b" " * (-len(header) % 8)
        new_len = total_bytes - 8 - len(header)
        if new_len == data_len:
            break
        data_len = new_len
    if data_len < 1:
        raise ValueError(f"shard_bytes={total_bytes} is too small for a safetensors header")
    shard = len(header).to_bytes(8, "little") + header + hashlib.shake_256(seed.encode()).digest(data_len)
    if len(shard) != total_bytes:
        raise ValueError(f"cannot lay out a safetensors shard of exactly {total_bytes} bytes")
    return shard


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `FakeHub.requests` instead."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    # -- routing -----------------------------------------------------------------------------

    def _dispatch(self, head: bool) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        parts = split.path.split("/")[1:]  # raw segments: a revision may hold an encoded '/'
        with self.hub._lock:
            self.hub.requests.append((self.command, split.path))
        try:
            kinds = {"models": "model", "datasets": "dataset"}
            if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in kinds:
                repo_type = cast(RepoType, kinds[parts[1]])
                self._api(_key(unquote(parts[2]) + "/" + unquote(parts[3]), repo_type), parts[4:], query)
            elif parts[:1] == ["_cdn"] and len(parts) in (4, 5):
                dataset = len(parts) == 5 and parts[1] == "datasets"
                org, name = parts[-3], parts[-2]
                key = _key(unquote(org) + "/" + unquote(name), "dataset" if dataset else "model")
                self._cdn(key, parts[-1], head)
            elif parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
                path = "/".join(unquote(p) for p in parts[5:])
                key = _key(unquote(parts[1]) + "/" + unquote(parts[2]), "dataset")
                self._resolve(key, unquote(parts[4]), path, head)
            elif len(parts) >= 5 and parts[2] == "resolve":
                path = "/".join(unquote(p) for p in parts[4:])
                self._resolve(unquote(parts[0]) + "/" + unquote(parts[1]), unquote(parts[3]), path, head)
            else:
                self._error(404, "NotFound", f"no route for {split.path}")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _repo_or_error(self, key: str) -> _Repo | None:
        repo = self.hub._repos.get(key)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        token = self.hub._token
        # Gating is per model repo here; the datasets served (openai/gsm8k) are public on the Hub.
        if token is not None and repo.repo_type == "model":
            repo_id = repo.repo_id
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                msg = (
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in."
                )
                self._error(401, "GatedRepo", msg)
                return None
            if auth.removeprefix("Bearer ") != token:
                msg = f"Access to model {repo_id} is restricted and you are not in the authorized list."
                self._error(403, "GatedRepo", msg)
                return None
        return repo

    def _api(self, key: str, rest: list[str], query: dict[str, str]) -> None:
        repo = self._repo_or_error(key)
        if repo is None:
            return
        if not rest or (len(rest) == 2 and rest[0] == "revision"):
            revision = unquote(rest[1]) if rest else "main"
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            self._json(200, self._model_info(repo, sha, blobs=_truthy(query.get("blobs"))))
        elif len(rest) >= 2 and rest[0] == "tree":
            revision = unquote(rest[1])
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            prefix = "/".join(unquote(p) for p in rest[2:]).strip("/")
            entries = _tree(repo.commits[sha], prefix, recursive=_truthy(query.get("recursive")))
            if entries is None:
                self._error(404, "EntryNotFound", f"{prefix} does not exist on {revision}")
                return
            self._json(200, entries)
        else:
            self._error(404, "NotFound", "unknown API route")

    def _model_info(self, repo: _Repo, sha: str, blobs: bool) -> dict[str, object]:
        files = repo.commits[sha]
        siblings: list[dict[str, object]] = []
        for hub_file in files.values():
            sibling: dict[str, object] = {"rfilename": hub_file.path}
            if blobs:
                sibling["size"] = len(hub_file.data)
                sibling["blobId"] = hub_file.blob_id
                if hub_file.lfs:
                    sibling["lfs"] = {
                        "size": len(hub_file.data),
                        "sha256": hub_file.sha256,
                        "pointerSize": hub_file.pointer_size,
                    }
            siblings.append(sibling)
        info: dict[str, object] = {
            "_id": hashlib.md5(repo.key.encode(), usedforsecurity=False).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": sha,
            "lastModified": "2026-04-24T00:00:00.000Z",
            "private": False,
            "gated": "manual" if self.hub._token is not None and repo.repo_type == "model" else False,
            "disabled": False,
            "siblings": siblings,
        }
        if repo.repo_type == "model":
            info.update(
                modelId=repo.repo_id, library_name="transformers", tags=["transformers", "safetensors"]
            )
        else:
            info["tags"] = ["format:parquet", "modality:text", "library:datasets"]
        config = files.get("config.json")
        if config is not None:
            with contextlib.suppress(ValueError):
                info["config"] = json.loads(config.data)
        return info

    def _resolve(self, key: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo_or_error(key)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        hub_file = repo.commits[sha].get(path)
        if hub_file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist", commit=sha)
            return
        if hub_file.lfs:
            location = f"http://{self.hub._cdn_host}:{self.hub.port}/_cdn/{quote(key)}/{hub_file.sha256}"
            body = b"Found. Redirecting to " + location.encode()
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("ETag", f'"{hub_file.blob_id}"')
            self.send_header("X-Linked-Etag", f'"{hub_file.sha256}"')
            self.send_header("X-Linked-Size", str(len(hub_file.data)))
            self.send_header("X-Repo-Commit", sha)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        self._content(repo, hub_file, head, extra={"ETag": f'"{hub_file.blob_id}"', "X-Repo-Commit": sha})

    def _cdn(self, key: str, sha256: str, head: bool) -> None:
        repo = self.hub._repos.get(key)
        matches = [
            f
            for commit in (repo.commits.values() if repo else [])
            for f in commit.values()
            if f.sha256 == sha256
        ]
        if repo is None or not matches:
            self._error(404, "NotFound", "no such object")
            return
        self._content(repo, matches[0], head, extra={"ETag": f'"{sha256}"'}, paths=[f.path for f in matches])

    # -- responses ---------------------------------------------------------------------------

    def _content(
        self,
        repo: _Repo,
        hub_file: HubFile,
        head: bool,
        extra: dict[str, str],
        paths: list[str] | None = None,
    ) -> None:
        size = len(hub_file.data)
        start, end = 0, size
        byte_range = _parse_range(self.headers.get("Range"), size)
        if byte_range == "invalid":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if byte_range is not None:
            start, end = byte_range
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return
        payload = hub_file.data[start:end]
        fault = self.hub._take_fault(repo.key, paths or [hub_file.path])
        if fault == "corrupt":
            payload = payload.translate(_CORRUPT)
        elif fault == "truncate":
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        seconds = self.hub._seconds_to_send(repo, hub_file, len(payload))
        for offset in range(0, len(payload), _CHUNK):
            chunk = payload[offset : offset + _CHUNK]
            if seconds:
                time.sleep(seconds * len(chunk) / len(payload))
            self.wfile.write(chunk)
            self.hub._count(repo.key, len(chunk))
        self.wfile.flush()

    def _json(self, status: int, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit is not None:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["invalid"] | None:
    """A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range as [start, end); None means the whole file."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").partition("-")
    try:
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start, end = int(first), (min(int(last) + 1, size) if last else size)
    except ValueError:
        return None
    if start >= size or start >= end:
        return "invalid"
    return start, end


def _tree(files: dict[str, HubFile], prefix: str, recursive: bool) -> list[dict[str, object]] | None:
    """Tree entries under `prefix` as the Hub lists them; None when the folder does not exist."""
    base = f"{prefix}/" if prefix else ""
    below = [f for path, f in files.items() if path.startswith(base)]
    if prefix and not below:
        return None
    entries: dict[str, dict[str, object]] = {}
    for hub_file in below:
        rel_parts = hub_file.path[len(base) :].split("/")
        for depth in range(1, len(rel_parts)):
            folder = base + "/".join(rel_parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(
                    folder, {"type": "directory", "oid": git_blob_id(folder.encode()), "path": folder}
                )
            if not recursive:
                break
        if recursive or len(rel_parts) == 1:
            entries[hub_file.path] = _tree_file(hub_file)
    return [entries[path] for path in sorted(entries)]


def _tree_file(hub_file: HubFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "type": "file",
        "oid": hub_file.blob_id,
        "size": len(hub_file.data),
        "path": hub_file.path,
    }
    if hub_file.lfs:
        entry["lfs"] = {
            "oid": hub_file.sha256,
            "size": len(hub_file.data),
            "pointerSize": hub_file.pointer_size,
        }
    return entry
