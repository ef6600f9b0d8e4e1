import json
import math
import os
import subprocess
import sys

import pytest
import torch

from benchmarks import bootstrap  # noqa: F401
from benchmarks.decoding import _load, _positions, _Scorer, decoding_figures
from elmo_c.config_defaults import FIXTURES

TRAIN, VALID = (os.path.join(FIXTURES, "lm", f"{split}.txt") for split in ("train", "valid"))
CONFIG = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The tiny ELMo-C trained for 2 epochs (its vocabulary keeps the word counts the prior needs)."""
    output = tmp_path_factory.mktemp("decoding") / "model"
    allennlp = os.path.join(os.path.dirname(sys.executable), "allennlp")
    subprocess.run([allennlp, "train", CONFIG, "-s", str(output), "--include-package", "elmo_c",
                    "-o", json.dumps({"trainer.num_epochs": 2})], check=True, capture_output=True)
    return str(output / "model.tar.gz")


def _sentences(path):
    with open(path) as stream:
        return [line.strip() for line in stream if line.strip()]


@pytest.fixture(scope="module")
def scorer_and_positions(archive):
    model, reader = _load(archive)
    return _Scorer(model), list(_positions(model, reader, _sentences(TRAIN)))


def _nll(scorer, positions, kappa):
    return -sum(
        scorer.log_probabilities(scorer.scores(hidden, direction), kappa).gather(1, targets.unsqueeze(1)).sum().item()
        for hidden, targets, direction in positions
    )


def test_the_distribution_covers_the_measured_words_only_and_sums_to_one(scorer_and_positions):
    scorer, positions = scorer_and_positions
    hidden, targets, direction = positions[0]
    probabilities = scorer.log_probabilities(scorer.scores(hidden, direction), 5.0).exp()
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(len(hidden)), atol=1e-5)
    assert probabilities[:, ~scorer.measured].abs().max() == 0
    # kappa 0 is the unigram model itself.
    assert torch.allclose(scorer.log_probabilities(scorer.scores(hidden, direction), 0.0),
                          scorer.log_prior.expand(len(hidden), -1))


def test_kappa_is_the_maximum_likelihood_on_the_fit_sentences(scorer_and_positions):
    scorer, positions = scorer_and_positions
    kappa = scorer.fit_kappa(iter(positions))
    best = _nll(scorer, positions, kappa)
    assert best <= _nll(scorer, positions, kappa * 0.7) and best <= _nll(scorer, positions, kappa / 0.7)


def test_the_figures_stand_beside_the_unigram_model_on_the_same_positions(archive):
    figures = decoding_figures(archive, TRAIN, VALID, fit_sentences=50)
    assert figures["positions"] > 0 and figures["kappa"] > 0
    assert 1 < figures["perplexity"] < math.inf and 1 < figures["unigram_perplexity"] < math.inf
    assert 0 <= figures["unigram_top1"] <= figures["unigram_top10"] <= 1
    assert 0 <= figures["model_top1"] <= figures["model_top10"] <= 1


def test_a_vocabulary_without_counts_is_refused():
    with pytest.raises(ValueError, match="counted"):
        decoding_figures(os.path.join(FIXTURES, "elmo_c_tiny", "model.tar.gz"), TRAIN, VALID)
