"""benchmarks/pool_seeds.py: pooling quality runs of several pretraining seeds, on known numbers."""
import json
import math

import pytest
from allennlp.common.checks import ConfigurationError

from benchmarks import pool_seeds


def _run(directory, rows):
    directory.mkdir()
    (directory / "summary.json").write_text(json.dumps(rows))
    return str(directory)


@pytest.fixture
def two_runs(tmp_path):
    first = _run(tmp_path / "seed13", {
        "elmo_c": {"scores": {"ner": {"1": 0.50, "2": 0.54}}},
        "elmo": {"scores": {"ner": {"1": 0.60, "2": 0.60}}},
    })
    second = _run(tmp_path / "seed14", {
        "elmo_c": {"scores": {"ner": {"1": 0.40, "2": 0.44, "3": 0.90}}},  # tagger seed 3: no ELMo to pair
        "elmo": {"scores": {"ner": {"1": 0.60, "2": 0.62}}},
    })
    return [first, second]


def test_scores_are_pooled_by_run_and_tagger_seed(two_runs):
    pooled = pool_seeds.pool(pool_seeds.read_runs(two_runs))
    assert pooled["elmo_c"]["ner"][("seed14", "3")] == 0.90
    assert len(pooled["elmo_c"]["ner"]) == 5 and len(pooled["elmo"]["ner"]) == 4
    assert pool_seeds.run_means(pooled["elmo"]["ner"]) == pytest.approx({"seed13": 0.60, "seed14": 0.61})


def test_differences_pair_the_same_run_and_seed_over_runs_and_over_pretraining_seeds(two_runs):
    pooled = pool_seeds.pool(pool_seeds.read_runs(two_runs))
    difference = pool_seeds.compare(pooled["elmo_c"]["ner"], pooled["elmo"]["ner"])
    # over runs: -0.10, -0.06, -0.20, -0.18 (the unpaired 0.90 left out)
    assert difference["runs"]["n"] == 4 and difference["runs"]["mean"] == pytest.approx(-0.135)
    # over pretraining seeds: -0.08 and -0.19
    assert difference["seeds"]["n"] == 2 and difference["seeds"]["mean"] == pytest.approx(-0.135)
    assert difference["seeds"]["sd"] == pytest.approx(math.sqrt(2) * 0.055)
    assert difference["seeds"]["t"] == pytest.approx(-0.135 / 0.055)


def test_the_report_has_a_row_per_variant_with_its_run_means(two_runs):
    summaries = pool_seeds.read_runs(two_runs)
    text = pool_seeds.report(pool_seeds.pool(summaries), list(summaries), ["elmo"])
    row = next(line for line in text.splitlines() if line.startswith("| elmo_c "))
    assert "0.520 / 0.580" in row and "(5)" in row and "-0.1350" in row


def test_a_directory_without_a_summary_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="summary.json does not exist"):
        pool_seeds.read_runs([str(tmp_path)])
