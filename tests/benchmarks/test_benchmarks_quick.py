"""
Keeps the benchmark scripts (benchmarks/) working: each benchmark runs at the
smallest configuration (`--smoke`: a tiny encoder, a 2K-word vocabulary, one
repeat) and its tables and headline lines are checked for form, not for speed.
"""
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from benchmarks import plots, run_all, suite
from benchmarks.common import make_config
from benchmarks.registry import SECTIONS
from benchmarks.report import HEADLINE_PATTERN, headline_lines

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def smoke_config(tmp_path_factory):
    return make_config("smoke", "cpu", str(tmp_path_factory.mktemp("bench_cache")), memory_budget_gb=4)


def check_section(section, expected_headlines):
    assert section.tables and all(table.rows for table in section.tables)
    for table in section.tables:
        lines = table.to_markdown().splitlines()
        assert all(line.replace("\\|", "").count("|") == len(table.columns) + 1 for line in lines[2:]), lines
    for line in headline_lines(section.headlines):
        assert HEADLINE_PATTERN.match(line), line
    missing = [name for name in expected_headlines if name not in section.headlines]
    assert not missing, f"missing headlines {missing} in {sorted(section.headlines)}"
    assert all(value > 0 for value in section.headlines.values()), section.headlines  # NaN fails too
    assert section.description and section.seconds > 0


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "training_step",
            [
                "elmo_c_step_vs_encoder_only_tiny",
                "elmo_c_vs_allennlp_elmo_step_speedup_tiny",
                "elmo_c_vs_elmo_step_speedup_tiny",
                "continuous_output_share_of_elmo_c_step",
            ],
        ),
        ("parameters", ["trainable_params_ratio_elmo_c_over_elmo", "trainable_params_ratio_elmo_c_over_elmo_tiny"]),
        ("memory", ["peak_memory_ratio_elmo_over_elmo_c", "peak_memory_process_ratio_elmo_over_elmo_c_tiny"]),
        ("encoder", ["fused_lstm_vs_elmo_lstm_speedup_tiny"]),
        ("embedder", ["embedder_vs_allennlp_elmo_throughput_ratio"]),
    ],
)
def test_benchmark_runs_and_reports(smoke_config, name, expected):
    section = SECTIONS[name].run(smoke_config)
    check_section(section, expected)
    if name == "embedder":  # both embedders read the same weights: same vectors
        assert all(row[-1] < 1e-5 for row in section.tables[0].rows)


def test_models_are_built_with_the_same_weights_every_time(smoke_config):
    from benchmarks.common import SIZES
    from benchmarks.variants import build_model

    corpus = smoke_config.corpus()
    first, again = (build_model("elmo_c", SIZES["tiny"], corpus, smoke_config).state_dict() for _ in range(2))
    encoder_only = build_model("encoder_only", SIZES["tiny"], corpus, smoke_config).state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert all(torch.equal(first[name], weights) for name, weights in encoder_only.items())  # the same encoder


def test_output_layers_across_vocabularies_skipping_what_does_not_fit(smoke_config, monkeypatch):
    from benchmarks import output_layers

    built = []
    build = output_layers.output_layer_step

    def recording_build(kind, corpus, *args):
        built.append((kind, corpus.vocab_size))
        return build(kind, corpus, *args)

    monkeypatch.setattr(output_layers, "output_layer_step", recording_build)
    # The full softmax at V=1000 needs about 2 MB here (parameters, Adam, logits), at V=500 about 1 MB.
    config = replace(smoke_config, output_vocab_sizes=[500, 1000], memory_budget_bytes=1.5e6)
    section = output_layers.run(config)
    assert ("softmax", 500) in built and ("softmax", 1000) not in built
    check_section(
        section,
        [
            "continuous_output_time_ratio_V1000_over_V500",
            "continuous_vs_sampled_output_speedup_V1000",
            "continuous_vs_adaptive_output_speedup_V1000",
            "continuous_vs_softmax_output_speedup_V500",
        ],
    )
    skipped = [row for row in section.tables[0].rows if "skipped" in str(row[-1])]
    assert [(row[0], row[1]) for row in skipped] == [(1000, "full softmax")]


def test_quick_runs_skip_the_slow_full_softmax(smoke_config):
    from benchmarks import output_layers
    from benchmarks.common import SyntheticCorpus

    config = replace(smoke_config, mode="quick", full_softmax_max_vocab=1000)
    assert output_layers.skip_reason("softmax", SyntheticCorpus(1000, config.cache_dir), config) is None
    assert "--quick" in output_layers.skip_reason("softmax", SyntheticCorpus(2000, config.cache_dir), config)
    assert output_layers.skip_reason("sampled", SyntheticCorpus(2000, config.cache_dir), config) is None


def test_targets_are_checked():
    checks = suite.check_targets(
        {"elmo_c_step_vs_encoder_only_small": 1.01, "elmo_c_step_vs_encoder_only_paper": 1.2,
         "trainable_params_ratio_elmo_c_over_elmo": 0.15}
    )
    status = {what: result for what, _, result in checks}
    assert status["ELMo-C step <= 1.05x the encoder-only step, at every size"] == "MISSED"
    assert status["trainable parameters <= 20% of ELMo's"] == "met"
    assert list(status.values()).count("not measured") == len(suite.TARGETS) - 2


def test_run_all_by_path_writes_results(tmp_path, smoke_config):
    # By path, as documented: the script must import this repository's `benchmarks`,
    # not the package of the same name that fairscale installs into site-packages.
    command = [
        sys.executable, os.path.join("benchmarks", "run_all.py"), "--smoke", "--only", "parameters",
        "--output-dir", str(tmp_path), "--cache-dir", smoke_config.cache_dir,
    ]
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    headlines = [line for line in result.stdout.splitlines() if " = " in line and not line.startswith("|")]
    assert headlines and all(HEADLINE_PATTERN.match(line) for line in headlines), headlines
    results = (tmp_path / "RESULTS.md").read_text()
    for expected in ("# elmo_c benchmarks", "| cpu |", "| torch |", "## Headlines", "## 3. Trainable parameters"):
        assert expected in results
    if plots.available():
        assert (tmp_path / "figures" / "trainable_parameters.png").stat().st_size > 0
        assert "![figures/trainable_parameters.png](figures/trainable_parameters.png)" in results


def test_a_failing_benchmark_becomes_a_note_and_the_others_still_report(tmp_path, smoke_config, monkeypatch):
    def broken(config):
        raise RuntimeError("out of memory at V=2,000,000")

    monkeypatch.setitem(SECTIONS, "output_layers", replace(SECTIONS["output_layers"], run=broken))
    argv = ["--smoke", "--only", "output_layers,parameters", "--output-dir", str(tmp_path),
            "--cache-dir", smoke_config.cache_dir]
    headlines = run_all.main(argv)
    assert "trainable_params_ratio_elmo_c_over_elmo" in headlines
    results = (tmp_path / "RESULTS.md").read_text()
    assert "## output_layers: FAILED" in results
    assert "RuntimeError: out of memory at V=2,000,000" in results
    assert "## 3. Trainable parameters" in results


def test_busy_machine_warning_reads_every_load_average_recorded_at_the_start(monkeypatch):
    monkeypatch.setattr(suite.os, "cpu_count", lambda: 2)
    assert suite.busy_machine_warning({suite.LOAD_AT_START: "0.23, 0.75, 0.91"}) == []
    warning = suite.busy_machine_warning({suite.LOAD_AT_START: "0.23, 0.75, 1.11"})  # the 15-minute one
    assert "load average (1, 5, 15 min) was 0.2, 0.8, 1.1 on 2 cores when this run started" in warning[0]
    assert suite.busy_machine_warning({}) == []


def test_memory_counts_weights_gradients_and_optimizer_state():
    from benchmarks.memory import _held_tensors_mib

    dense = torch.nn.Linear(256, 1024)  # 1 MiB of weight, 4 KiB of bias
    sparse = torch.nn.Embedding(4096, 64, sparse=True)  # 1 MiB
    optimizer = torch.optim.Adam(dense.parameters())
    dense(torch.ones(2, 256)).sum().backward()
    sparse(torch.tensor([1, 2, 2])).sum().backward()  # gradient: 3 rows of values + 3 indices
    optimizer.step()
    held = _held_tensors_mib(torch.nn.ModuleList([dense, sparse]), optimizer)
    dense_mib = (256 * 1024 + 1024) * 4 / 2**20
    assert held["weights_mib"] == pytest.approx(dense_mib + 1.0)
    assert held["gradients_mib"] == pytest.approx(dense_mib + (3 * 64 * 4 + 3 * 8) / 2**20)
    assert held["optimizer_state_mib"] == pytest.approx(2 * dense_mib, rel=1e-3)  # Adam's moments (+ step counts)


def test_memory_composition_splits_the_encoder_and_what_each_output_layer_adds():
    from benchmarks.memory import _composition

    def result(headline, weights, gradients, state):
        return dict(headline_mib=headline, vocabulary_mib=100.0, weights_mib=weights, gradients_mib=gradients,
                    optimizer_state_mib=state)

    results = {"encoder_only": result(300, 10, 10, 20), "elmo_c": result(312, 11, 11, 22),
               "elmo": result(1500, 410, 20, 820)}
    note = _composition("small", results, on_gpu=False)
    assert note == ("small: encoder alone 300 (the vocabulary 100, weights 10, gradients 10, Adam's state 20, "
                    "the rest 160: activations and the allocator's free blocks); ELMo-C's output layer +12; "
                    "ELMo's sampled softmax +1200 (weights +400, gradients +10, Adam's state +800)")
    assert "vocabulary" not in _composition("small", results, on_gpu=True)
