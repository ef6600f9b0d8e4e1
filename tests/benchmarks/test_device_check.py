"""
Keeps `benchmarks/device_check.py` (the GPU machine's one script) working where no
GPU is: its `--tiny` mode runs every part on the CPU at toy sizes into a temporary
directory, never into benchmarks/RESULTS_gpu.md.
"""
import os

import pytest
import torch

from benchmarks import device_check
from benchmarks.variants import LABELS

TABLE_TITLES = (
    "**Training step at V=2,000",
    "**Largest batch at the tiny size",
    "**One loader worker",
    "**`allennlp train`, tiny",
)


def _stamp(path):
    return os.stat(path).st_mtime_ns if os.path.exists(path) else None


def _run(tmp_path, *options):
    output = tmp_path / "report.md"
    device_check.main(
        ["--tiny", "--output", str(output), "--cache-dir", str(tmp_path / "cache"),
         "--work-dir", str(tmp_path / "work"), *options]
    )
    return output.read_text()


def test_the_tiny_run_writes_every_table(tmp_path):
    results_gpu = device_check.DEFAULT_OUTPUT
    before = _stamp(results_gpu)
    # A generous budget: the parts' shares, not the machine's load, should decide what runs here.
    report = _run(tmp_path, "--budget-seconds", "240")
    assert _stamp(results_gpu) == before
    for title in TABLE_TITLES:
        assert title in report, title
    steps = report.split("## 1. Training step")[1].split("## 2.")[0]
    for label in [*LABELS.values(), device_check.ROW_LABELS[device_check.RESIDENT]]:
        assert f"| {label} | fp32 | " in steps, label
    # Only AllenNLP's recipe may fail (its LayerNorm has no bfloat16), and nothing is skipped.
    failed = [line for line in steps.splitlines() if "failed:" in line]
    assert all(LABELS["allennlp_elmo"] in line and "| bf16 |" in line for line in failed), failed
    assert "_Not run" not in report and "skipped" not in report.lower()
    train = report.split("## 4.")[1]
    row = [line for line in train.splitlines() if line.startswith("| 1 | fp32 |")]
    assert row and "failed" not in row[0], train
    assert float(row[0].split("|")[4].strip() or "nan") > 0, train  # tokens / s


def test_a_spent_budget_skips_the_parts_and_still_writes_the_report(tmp_path):
    report = _run(tmp_path, "--budget-seconds", "0.001", "--parts", "steps", "loader")
    assert report.count("_Not run: not reached") == 2 and report.count("_Not run: not selected") == 2


def test_the_throughput_is_read_between_log_lines_of_one_epoch():
    stamp = "2026-12-02 07:00:{:02d},{:03d} - INFO - elmo_c.training.throughput - Epoch {}: {} tokens, 9 tokens/s"
    log = "\n".join([
        "loss: 1.0 ||: 10it [00:01]\r" + stamp.format(1, 0, 0, "1,000"),  # a progress bar shares the line
        stamp.format(2, 0, 0, "3,000"),
        stamp.format(3, 500, 0, "6,000"),
        stamp.format(4, 0, 1, "500"),  # a new epoch: the counter starts again
        stamp.format(5, 0, 1, "2,500"),
    ])
    result = device_check._throughput(log)
    assert result["log_lines"] == 5 and result["intervals"] == 3
    assert result["measured_s"] == pytest.approx(3.5)
    assert result["tokens_per_s"] == pytest.approx((2000 + 3000 + 2000) / 3.5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU run is what this machine would do")
def test_without_a_gpu_only_the_tiny_run_is_allowed(tmp_path):
    with pytest.raises(SystemExit):
        device_check.main(["--output", str(tmp_path / "report.md")])
    assert not (tmp_path / "report.md").exists()
