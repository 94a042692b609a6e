"""The local hub's GSM8K (infra/emulator/hub_gsm8k.py): openai/gsm8k's layout, and answers that add up."""

from __future__ import annotations

import io
import re

import pyarrow.parquet as pq
import yaml

from infra.emulator.hub import gsm8k_files


def test_the_card_declares_each_parquet_file_as_a_split_of_its_config() -> None:
    files = gsm8k_files(test_rows=5, train_rows=3)
    card = files["README.md"].decode()
    header = yaml.safe_load(card.split("---")[1])
    declared = {
        (c["config_name"], d["split"]): d["path"].removesuffix("*")
        for c in header["configs"]
        for d in c["data_files"]
    }
    parquet = sorted(name for name in files if name.endswith(".parquet"))
    assert len(parquet) == len(declared) == 4
    for (config, split), prefix in declared.items():
        (name,) = (n for n in parquet if n.startswith(prefix))
        table = pq.read_table(io.BytesIO(files[name]))
        assert table.column_names == ["question", "answer"]
        assert table.num_rows == (5 if split == "test" else 3), (config, split)


def test_every_answer_ends_in_the_result_of_its_last_calculation() -> None:
    files = gsm8k_files(test_rows=40, train_rows=0)
    for config in ("main", "socratic"):
        table = pq.read_table(io.BytesIO(files[f"{config}/test-00000-of-00001.parquet"]))
        for answer in table.column("answer").to_pylist():
            *_, last = re.findall(r"<<[^=]+=(\d+)>>", answer)
            assert answer.rsplit("#### ", 1)[1] == last, answer
    assert gsm8k_files(3, 1) == gsm8k_files(3, 1)
