"""Property: any value for any config key or CLI argument ends in one error line, never a traceback.

Seeded random strings (newlines, control characters, unicode, shell and template syntax, very long)
and odd YAML values (.inf, .nan, 0, huge numbers, lists, mappings) go into every config key of a stack
file and every argument of the CLI, through `v4infra`'s own entry point. Each run must exit 0, or exit
with a code from the error table after printing exactly one `error:` line; a failed run leaves no file
behind: no state directory (so no emulator, pod or volume was started), no rendered manifests.
A seeded generator instead of hypothesis: no new dependency, and a failure names its seed and case.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config, errors
from infra.cli import main

REAL_ROOT = config.project_root()
SEED = 13
CASES_PER_KEY = 20
CASES_PER_ARGUMENT = 25
# Every exit code the error table defines, and the one for an OSError the machine raised (port, disk).
EXIT_CODES = {0, errors.EXIT_OTHER} | {
    row.code for row in errors.EXIT_CODES if all(issubclass(c, errors.V4InfraError) for c in row.raised_by)
}
PIECES = [
    "\n", "\r\n", "\t", "\x00", "\x1b[2J", "\x7f", "\u202e", "\u2028", "\ufeff", "é", "日本語", "🙂",
    "'", '"', "$(touch pwned)", "`id`", "{{ 7*7 }}", "${HOME}", "#", ": ", "- ", "&a", "*a",
    "!!python/object:os.system", "%", "\\", "..", "/", " ", "-", "--json", "=",
]  # fmt: skip
VALID = ["flash", "H200", "4", "vllm/vllm-openai:v0.20.0", "deepseek-v4", "runpod", "acme/ft", "US-TX-3"]
RUNPOD_BASE = {"model": "flash", "gpu": "H200", "gpuCount": 4}
K8S_BASE = {**RUNPOD_BASE, "target": "kubernetes", "namespace": "deepseek-v4-prop", "storageClass": "efs-sc"}


def random_text(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:  # a valid value with something after it: the trailing-newline class of bug
        return rng.choice(VALID) + rng.choice(PIECES)
    if kind == 1:
        return "".join(
            rng.choice([*PIECES, chr(rng.randrange(32, 0x2FFF))]) for _ in range(rng.randint(0, 12))
        )
    if kind == 2:
        return rng.choice(VALID)[:1] * rng.choice([64, 101, 255, 5000])
    if kind == 3:
        return rng.choice(PIECES) + rng.choice(VALID)
    # Control characters and non-ASCII, no surrogates (a file cannot hold them as UTF-8).
    return "".join(chr(rng.choice([rng.randrange(0, 32), rng.randrange(0x80, 0xD7FF)])) for _ in range(20))


def random_value(rng: random.Random) -> Any:
    if rng.random() < 0.6:
        return random_text(rng)
    return rng.choice(
        [
            float("inf"),
            float("-inf"),
            float("nan"),
            0,
            -1,
            0.0,
            10**30,
            True,
            None,
            [],
            [random_text(rng)],
            {"nested": random_text(rng)},
            {"secure": random_text(rng)},
            1.5,
        ]
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project's config in tmp_path, with its own (empty) state directory."""
    root = tmp_path / "project"
    shutil.copytree(REAL_ROOT / "stacks", root / "stacks")
    shutil.copy(REAL_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    monkeypatch.setenv("V4INFRA_ROOT", str(root))
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    yield root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`v4infra ARGV` in-process; any exception but SystemExit escaping `main` is a traceback for a user."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    return code, capsys.readouterr().err


def check(argv: list[str], code: int, err: str, case: str) -> None:
    assert code in EXIT_CODES, f"{case}: exit {code} is not in the error table"
    assert "Traceback" not in err, f"{case}: {err}"
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{case}: not one error line: {err!r}"


def nothing_created(tmp_path: Path, case: str) -> None:
    assert not (tmp_path / "state").exists(), f"{case}: the state directory was created"
    assert not (tmp_path / "out").exists(), f"{case}: manifests were written"


KEYS = [key.name for key in config.SCHEMA]


@pytest.mark.parametrize("key", [*KEYS, "<random key>"])
def test_any_value_of_any_config_key_is_refused_in_one_line_or_accepted(
    key: str, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(f"{SEED}:{key}")
    stack_file = project / "stacks" / "Pulumi.prop.yaml"
    for case_no in range(CASES_PER_KEY):
        value = random_value(rng)
        name = f"{config.PROJECT}:{random_text(rng) if key == '<random key>' else key}"
        case = f"seed {SEED} {key} case {case_no}: {value!r}"
        for base in (RUNPOD_BASE, K8S_BASE):
            raw = {f"{config.PROJECT}:{k}": v for k, v in base.items()} | {name: value}
            stack_file.write_text(yaml.safe_dump({"config": raw}, allow_unicode=True), encoding="utf-8")
            code, err = run(["plan", "prop"], capsys)
            check(["plan"], code, err, case)
            if base is K8S_BASE:
                render_code, err = run(["render", "prop", "--out", "out"], capsys)
                check(["render"], render_code, err, case)
                if render_code == 0:
                    shutil.rmtree(tmp_path / "out")
            if code != 0:
                # Every lifecycle verb refuses the same stack before it starts anything.
                for verb in (
                    ["up", "--rehearse"],
                    ["validate", "--rehearse"],
                    ["down"],
                    ["cleanup", "--yes"],
                ):
                    verb_code, err = run([*verb, "prop"], capsys)
                    check(verb, verb_code, err, case)
                    assert verb_code == code, f"{case}: {verb} exited {verb_code}, plan {code}"
            nothing_created(tmp_path, case)


PLAN_FLAGS = {"--model": "flash", "--gpu": "H200", "--count": "4"}
ARGUMENT_SLOTS: list[tuple[str, list[str]]] = [
    ("plan STACK", ["plan", "{}"]),
    *[
        (
            f"plan {flag}",
            ["plan", *(x for f, v in PLAN_FLAGS.items() if f != flag for x in (f, v)), flag, "{}"],
        )
        for flag in (
            *PLAN_FLAGS,
            "--nodes",
            "--target",
            "--engine",
            "--max-model-len",
            "--max-num-seqs",
            "--image",
            "--speculative",
        )
    ],
    ("render STACK", ["render", "{}", "--out", "out"]),
    ("render --out", ["render", "k8s-flash-4xh200", "--out", "{}"]),
    (
        "render --argo-repo",
        ["render", "k8s-flash-4xh200", "--out", "out", "--argo-path", "p", "--argo-repo", "{}"],
    ),
    (
        "render --argo-path",
        ["render", "k8s-flash-4xh200", "--out", "out", "--argo-repo", "r", "--argo-path", "{}"],
    ),
    ("render --argo-revision", ["render", "k8s-flash-4xh200", "--out", "out", "--argo-revision", "{}"]),
    *[(f"{verb} STACK", [verb, "{}"]) for verb in ("preview", "up", "down", "status", "validate", "cleanup")],
    ("up --rehearse STACK", ["up", "--rehearse", "{}"]),
    ("emulator --port", ["emulator", "--port", "{}"]),
    ("emulator --time-scale", ["emulator", "--time-scale", "{}"]),
]


def _starts_a_server(argv: list[str]) -> bool:
    """A value the emulator accepts would start it (a valid input, not this test's subject)."""
    from infra.cli_args import float_in, int_in

    if argv[0] != "emulator":
        return False
    convert = int_in(0, 65535) if argv[1] == "--port" else float_in(0, 1e6, low_open=True)
    try:
        convert(argv[2])
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("slot", "template"), ARGUMENT_SLOTS, ids=[s for s, _ in ARGUMENT_SLOTS])
def test_any_value_of_any_cli_argument_is_refused_in_one_line_or_accepted(
    slot: str, template: list[str], project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(f"{SEED}:{slot}")
    extra = ["-5", "99999", "0", "-0", "1e400", "nan", "inf", "", " ", "4.5", "0x10"]
    values = extra + [random_text(rng) for _ in range(CASES_PER_ARGUMENT)]
    for case_no, value in enumerate(values):
        argv = [value if part == "{}" else part for part in template]
        if _starts_a_server(argv):
            continue
        case = f"seed {SEED} {slot} case {case_no}: {value!r}"
        code, err = run(argv, capsys)
        check(argv, code, err, case)
        if code != 0:
            nothing_created(tmp_path, case)
        for written in tmp_path.iterdir():
            # A random --out that was a valid path: the manifests went there; clear them for the next case.
            if written.name != "project":
                shutil.rmtree(written) if written.is_dir() else written.unlink()


def test_the_bugs_the_red_team_found_are_one_line(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["emulator", "--port", "99999"], "must be between 0 and 65535, got 99999"),
        (["emulator", "--time-scale", "-5"], "must be above 0 and at most 1e+06, got '-5'"),
        (["plan", "x" * 255], "is not valid: use 1-100 letters"),
        (["up", "exp\nb"], "stack name 'exp\\nb' is not valid"),
        (
            ["plan", "--model", "flash", "--gpu", "H200", "--count", "4", "--max-num-seqs", "0"],
            "between 1 and",
        ),
    ]
    for argv, message in cases:
        code, err = run(argv, capsys)
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and message in err, (argv, err)
    nothing_created(tmp_path, "red-team cases")


def test_an_unwritable_out_directory_is_one_line(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, err = run(["render", "k8s-flash-4xh200", "--out", str(blocker / "out")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "cannot write the manifests to --out" in err and "choose a directory you can write" in err


def test_a_value_in_a_comment_cannot_end_the_comment() -> None:
    """Defence in depth below config validation: a newline in a commented value would start code."""
    import subprocess

    from infra.render import comment
    from infra.targets.runpod.start_script import cpu_start_script

    hostile = "x\nrm -rf /tmp/pwned\n# "
    assert "\n" not in comment(hostile) and "rm -rf" in comment(hostile)
    script = cpu_start_script(stack=hostile, ttl_seconds=None)
    assert not [line for line in script.splitlines() if line.startswith("rm ")]
    assert subprocess.run(["bash", "-n", "-c", script], capture_output=True, timeout=60).returncode == 0
