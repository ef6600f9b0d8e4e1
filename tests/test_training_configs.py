"""The pretraining configs run as a user runs them: `allennlp train CONFIG` on the
bundled fixtures (the defaults of the environment variables)."""
import json
import os
import subprocess
import sys

import pytest

from elmo_c.config_defaults import DEFAULTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")


# The configs warm their learning rate up over hundreds of steps, longer than the
# fixtures' few batches: a constant rate shows within 3 epochs whether they learn.
LEARNABLE = {
    "trainer.num_epochs": 3,
    "trainer.learning_rate_scheduler": {"type": "constant"},
    "trainer.optimizer.lr": 3e-3,
}


def _train(config: str, output: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    command = [ALLENNLP, "train", os.path.join("training_config", config), "--include-package", "elmo_c",
               "-s", output, "-o", json.dumps(LEARNABLE)]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert os.path.exists(os.path.join(output, "model.tar.gz"))
    with open(os.path.join(output, "metrics.json")) as stream:
        return json.load(stream)


@pytest.mark.parametrize("config", ["elmo_c.jsonnet", "elmo_c_small.jsonnet", "elmo_c_reference.jsonnet"])
def test_pretraining_config_runs_as_written(config, tmp_path):
    metrics = _train(config, str(tmp_path / "run"))
    for key in ("validation_cosine", "validation_top1_accuracy", "validation_top10_accuracy", "training_cosine",
                "validation_constant_cosine", "validation_cosine_gain", "validation_unigram_top10_accuracy"):
        assert key in metrics and metrics[key] == metrics[key]  # present and not NaN
    assert -1.0 <= metrics["validation_cosine"] <= 1.0
    with open(tmp_path / "run" / "metrics_epoch_0.json") as stream:
        first_epoch = json.load(stream)
    assert metrics["training_loss"] < 0.95 * first_epoch["training_loss"]  # it learns
