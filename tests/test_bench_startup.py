"""`make bench`'s start-up table: Flash on 4x H200 and Pro on 8x H200, by phase from bandwidths, the same
text every run, with the default-vs-chosen, cold-vs-warm and volume-vs-download rows."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout

from paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import bench_startup


def _run() -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench_startup.main([]) == 0
    return out.getvalue()


def test_the_table_is_the_same_every_run_and_has_every_row() -> None:
    text = _run()
    assert text == _run()
    for title in ("DeepSeek-V4-Flash on 4x H200", "DeepSeek-V4-Pro on 8x H200"):
        assert f"{title} ($" in text
    assert text.count("published volume rate") == 2 and text.count("measured-rate path") == 2
    for row in (
        "engine default loading, cold cache",
        "chosen loading, cold cache",
        "chosen loading, warm cache",
        "download to container disk, cold cache",
    ):
        assert text.count(row) == 4
    assert "read rate measured: 228 MB/s" in text and "using the published rate: 237 MB/s" in text
