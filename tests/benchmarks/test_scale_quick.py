"""The scale benchmarks (benchmarks/scale.py) at their smallest ("smoke" settings: a
few thousand tokens, a 1,000-row table, tiny models, in this process): every part
runs in seconds and prints its headlines in the suite's fixed `name = value` form."""
import dataclasses
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
from benchmarks import bootstrap  # noqa: E402,F401  (this repository's `benchmarks`, not fairscale's)
from benchmarks import scale, scale_common, scale_targets  # noqa: E402
from benchmarks.report import HEADLINE_PATTERN, headline_lines  # noqa: E402

HEADLINES = [
    "loader_peak_rss_mb_1x",
    "loader_peak_rss_mb_10x",
    "loader_rss_ratio_10x_over_1x",
    "loader_tokens_per_s_per_worker",
    "model_tokens_per_s_small",
    "model_tokens_per_s_paper",
    "loader_workers_needed_small",
    "loader_workers_needed_paper",
    "targets_rows",
    "allreduce_bytes_per_step_elmo_c",
    "allreduce_bytes_per_step_elmo_dense",
    "allreduce_bytes_per_step_elmo_sparse",
    "allreduce_ratio_elmo_over_elmo_c",
] + [
    f"targets_2m_{measure}_{dtype}_{mapping}"
    for measure in ("load_seconds", "rss_mb", "private_mb", "lookup_ms")
    for dtype in ("fp32", "fp16")
    for mapping in ("mmap", "nommap")
]


@pytest.fixture(scope="module")
def settings():
    return scale_common.make_settings("smoke")


@pytest.fixture(scope="module")
def headlines(settings):
    sections = scale.run_parts(settings, scale.PARTS, log=lambda text: None)
    lines = [line for section in sections for line in headline_lines(section.headlines)]
    markdown = scale.results_markdown(sections, settings, "benchmarks/scale.py --smoke", 1.0)
    return lines, {key: value for section in sections for key, value in section.headlines.items()}, markdown


def test_every_headline_is_printed_in_the_fixed_form(headlines):
    lines, values, markdown = headlines
    for line in lines:
        assert HEADLINE_PATTERN.match(line), line
    assert [name for name in HEADLINES if name not in values] == []
    assert "## Headlines" in markdown and "loader_rss_ratio_10x_over_1x = " in markdown


def test_the_smoke_values_are_plausible(headlines):
    _, values, _ = headlines
    assert values["loader_peak_rss_mb_10x"] > 0 and values["loader_rss_ratio_10x_over_1x"] > 0
    assert values["loader_tokens_per_s_per_worker"] > 0 and values["model_tokens_per_s_paper"] > 0
    assert values["loader_workers_needed_small"] >= 1 and values["targets_rows"] == 1000
    # Dense ELMo all-reduces its whole softmax; the sparse one only the rows it touched.
    dense, sparse = values["allreduce_bytes_per_step_elmo_dense"], values["allreduce_bytes_per_step_elmo_sparse"]
    assert dense > sparse > values["allreduce_bytes_per_step_elmo_c"] * 0.5 > 0


def test_a_measurement_in_its_own_process_returns_its_result(settings, tmp_path):
    corpus = scale_common.prepare_corpus(settings, str(tmp_path), scales=(1,))
    spec = {"words": corpus.words_path, "config": settings.loader_config, "data_path": corpus.globs[1],
            "num_workers": 0, "batch_size": settings.loader_batch_size}
    isolated = dataclasses.replace(settings, isolate=True)
    result = scale_common.run_child(scale_common.child_loader, spec, isolated)
    assert result["tokens"] > corpus.tokens[1] and result["peak_rss_mb"] > 0
    with pytest.raises(RuntimeError, match="No file matches"):
        missing = {**spec, "data_path": str(tmp_path / "missing-*.txt")}
        scale_common.run_child(scale_common.child_loader, missing, isolated)


def test_too_little_disk_space_gives_a_smaller_table_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100 * 2**30, 99 * 2**30, 2**30))
    rows, notes = scale_targets._table_rows(scale_common.make_settings("full"), str(tmp_path))
    assert rows == 200_000
    assert "1.0 GiB free" in notes[0] and "200,000 rows" in notes[1]
