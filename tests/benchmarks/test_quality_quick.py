"""
benchmarks/quality.py: its statistics on known numbers, and the whole study on the
fixtures (`--quick`: ELMo-C and the controls, the classifier, two seeds) for form: every cell ran, the report
has its tables and the headline lines, a rerun reuses every cell.
"""
import argparse
import importlib.util
import math
import os
import re
import subprocess
import sys

import pytest

from benchmarks import quality

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mean_and_sample_standard_deviation():
    mean, sd = quality.mean_and_sd([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and sd == pytest.approx(0.2)
    assert math.isnan(quality.mean_and_sd([0.3])[1])


def test_paired_difference_pairs_by_seed_and_tests_the_differences():
    first = {1: 0.50, 2: 0.52, 3: 0.47, 4: 0.60}
    second = {1: 0.40, 2: 0.43, 3: 0.36}  # seed 4 unpaired: left out
    difference = quality.paired_difference(first, second)
    assert difference["n"] == 3 and difference["mean"] == pytest.approx(0.1)
    from scipy import stats

    assert difference["p"] == pytest.approx(stats.ttest_rel([0.50, 0.52, 0.47], [0.40, 0.43, 0.36]).pvalue)
    assert quality.paired_difference({1: 0.5, 2: 0.5}, {1: 0.5, 2: 0.5})["p"] == 1.0


def test_training_durations_are_read_as_seconds():
    assert quality._seconds("0:02:22.5") == pytest.approx(142.5)
    assert quality._seconds("1 day, 1:00:00") == pytest.approx(90000)


def test_headlines_name_every_task_and_variant():
    rows = {
        "elmo_c": {"scores": {"wnut_f1": {1: 0.30, 2: 0.32}},
                   "validation": {"top10_accuracy": 0.3, "unigram_top10_accuracy": 0.2, "cosine_gain": 0.1}},
        "elmo": {"scores": {"wnut_f1": {1: 0.31, 2: 0.34}}},
        "untrained": {"scores": {"wnut_f1": {1: 0.20, 2: 0.25}}},
    }
    figures = quality.headlines(rows)
    assert figures["quality_wnut_f1_elmo_c_mean"] == pytest.approx(0.31)
    assert figures["quality_wnut_f1_elmo_c_minus_elmo"] == pytest.approx(-0.015)
    assert figures["quality_wnut_f1_elmo_c_minus_untrained"] == pytest.approx(0.085)
    assert figures["quality_top10_elmo_c_over_unigram"] == pytest.approx(1.5)
    assert figures["quality_cosine_gain_over_constant_elmo_c"] == pytest.approx(0.1)


def test_the_quick_study_runs_end_to_end_and_resumes(tmp_path):
    command = [sys.executable, os.path.join(REPOSITORY, "benchmarks", "quality.py"), "--quick",
               "--variants", "elmo_c", "--tasks", "rt_accuracy", "--seeds", "2", "--output", str(tmp_path / "run"),
               "--results", str(tmp_path / "RESULTS_quality.md")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    text = (tmp_path / "RESULTS_quality.md").read_text()
    # The intrinsic table and the perplexity table (none has no biLM), and the task's.
    for row, tables in (("| elmo_c |", 3), ("| untrained |", 3), ("| none |", 1)):
        assert text.count(row) == tables, row
    if importlib.util.find_spec("matplotlib"):  # installed with --benchmarks only
        assert (tmp_path / "RESULTS_quality.png").stat().st_size > 0
    headlines = dict(re.findall(r"^(quality_\w+) = (\S+)$", first.stdout, flags=re.M))
    for name in ("quality_rt_accuracy_elmo_c_mean", "quality_rt_accuracy_none_sd",
                 "quality_rt_accuracy_elmo_c_minus_untrained", "quality_top10_elmo_c_over_unigram",
                 "quality_cosine_gain_over_constant_elmo_c", "quality_perplexity_elmo_c",
                 "quality_calibrated_top10_elmo_c_over_unigram"):
        assert name in headlines
    second = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert second.returncode == 0
    assert "$ " not in second.stdout  # every cell was reused: no command ran again


def test_the_equal_time_corpus_is_the_text_as_many_times_over_as_elmo_was_slower(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"sentence {i}\n" for i in range(10)))
    (tmp_path / "data").mkdir()
    longer = quality._equal_time_corpus(str(tmp_path), str(train), {"cost": {"seconds": 250.0}},
                                        {"cost": {"seconds": 100.0}})
    lines = open(longer).read().splitlines()
    assert len(lines) == 25 and lines[:10] == lines[10:20] and lines[20:] == [f"sentence {i}" for i in range(5)]


def test_a_downstream_cell_is_trained_by_one_process_and_a_dead_ones_lock_is_taken_over(tmp_path):
    directory = str(tmp_path / "downstream" / "elmo_c")
    assert quality.claim(directory, "wnut_seed1")
    assert not quality.claim(directory, "wnut_seed1")  # held by a live process (this one)
    assert quality.claim(directory, "wnut_seed2")
    quality.release(directory, "wnut_seed1")
    assert quality.claim(directory, "wnut_seed1")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "downstream" / "elmo_c" / "wnut_seed3.lock").write_text(finished.stdout.strip())
    assert quality.claim(directory, "wnut_seed3")


def test_a_variant_another_process_is_pretraining_is_left_to_it(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(quality, "_pretrain", lambda run_dir, variant, *rest: calls.append(variant) or {"archive": ""})
    args = argparse.Namespace(epochs=1)
    directory = str(tmp_path / "pretraining" / "elmo_c_recipe")
    assert quality.claim(directory, "pretrain")  # another live process holds it
    assert quality._pretrain_unless_taken(str(tmp_path), "elmo_c_recipe", {}, {}, args) is None
    assert quality._pretrain_unless_taken(str(tmp_path), "elmo", {}, {}, args) == {"archive": ""}
    quality.release(directory, "pretrain")
    assert quality._pretrain_unless_taken(str(tmp_path), "elmo_c_recipe", {}, {}, args) == {"archive": ""}
    assert calls == ["elmo", "elmo_c_recipe"]
    assert not os.path.exists(os.path.join(directory, "pretrain.lock"))  # released after the work


def test_the_goals_are_judged_from_the_rows():
    rows = {
        "elmo_c": {"scores": {"wnut_f1": {1: 0.30, 2: 0.32}},
                   "validation": {"top10_accuracy": 0.15, "unigram_top10_accuracy": 0.28, "cosine_gain": 0.2}},
        "elmo_c@time": {"scores": {"wnut_f1": {1: 0.34, 2: 0.35}}},
        "elmo": {"scores": {"wnut_f1": {1: 0.31, 2: 0.34}}},  # mean 0.325, sd 0.021
        "untrained": {"scores": {"wnut_f1": {1: 0.20, 2: 0.30}}},  # mean 0.25, sd 0.071: overlaps ELMo-C's spread
    }
    status = {goal: verdict for goal, _, verdict in quality.goals(rows)}
    assert status["ELMo-C's nearest-neighbour top-10 above the unigram model's"] == "MISSED"
    assert status["ELMo-C's cosine gain over the constant prediction >= 0.11"] == "met"
    assert status["wnut_f1: ELMo-C within one sd of ELMo, or better (same tokens)"] == "met"
    assert status["wnut_f1: ELMo-C ahead of ELMo at the same wall-clock time"] == "met"
    assert status["wnut_f1: ELMo-C above the untrained encoder, outside the seed spread"] == "MISSED"
    rows["elmo_c"]["scores"]["wnut_f1"] = {1: 0.29, 2: 0.29}
    assert dict((goal, verdict) for goal, _, verdict in quality.goals(rows))[
        "wnut_f1: ELMo-C within one sd of ELMo, or better (same tokens)"] == "MISSED"


def test_every_variant_but_the_shipped_one_pins_its_text_layout_and_encoder():
    """A change of training_config/elmo_c_small.jsonnet's default moves `elmo_c` only: the other
    variants' finished cells keep their meaning (and pipeline.pretrain would refuse them otherwise)."""
    assert quality.VARIANTS["elmo_c"] == {}
    for name, overrides in quality.VARIANTS.items():
        if name != "elmo_c":
            assert {"dataset_reader.window_size", "model.encoder.layer_norm"} <= set(overrides), name
