import math
import os

import pytest
import torch
from allennlp.common import Params
from allennlp.common.testing import ModelTestCase
from allennlp.data import Vocabulary

from elmo_c.config_defaults import FIXTURES
from elmo_c.modules.output_layers import (
    AdaptiveSoftmaxOutputLayer,
    OutputLayer,
    SampledSoftmaxOutputLayer,
    SoftmaxOutputLayer,
    SubwordSoftmaxOutputLayer,
)

CONFIG = os.path.join(FIXTURES, "configs", "elmo_baselines_tiny.jsonnet")
TRAIN = os.path.join(FIXTURES, "lm", "train.txt")
TRAINING_CONFIG = os.path.join(os.path.dirname(FIXTURES), "training_config")


class _BaselineTestCase(ModelTestCase):
    """The tiny biLM of the fixtures with the output layer named by ELMO_C_TEST_OUTPUT."""

    output_layer = ""
    output_class: type = OutputLayer
    word_level = True  # a distribution over words, comparable with a unigram model's

    def setup_method(self):
        super().setup_method()
        self._previous_output = os.environ.get("ELMO_C_TEST_OUTPUT")
        os.environ["ELMO_C_TEST_OUTPUT"] = self.output_layer
        self.set_up_model(CONFIG, TRAIN)

    def teardown_method(self):
        if self._previous_output is None:
            os.environ.pop("ELMO_C_TEST_OUTPUT", None)
        else:
            os.environ["ELMO_C_TEST_OUTPUT"] = self._previous_output
        super().teardown_method()

    def test_trains_saves_loads_and_predicts_the_same(self):
        assert isinstance(self.model.output_layer, self.output_class)
        self.ensure_model_can_train_save_and_load(self.param_file, seed=13)

    def test_validation_metrics_have_the_perplexity_of_the_nll(self):
        self.model.eval()
        with torch.no_grad():
            output = self.model(**self.dataset.as_tensor_dict())
        metrics = self.model.get_metrics(reset=True)
        assert metrics["perplexity"] == pytest.approx(math.exp(metrics["nll"]))
        # Both directions have as many targets, so the mean NLL is the model's loss.
        assert metrics["nll"] == pytest.approx(output["loss"].item(), rel=1e-5)
        assert metrics["nll"] == pytest.approx((metrics["forward_loss"] + metrics["backward_loss"]) / 2, rel=1e-5)


    def test_training_brings_perplexity_below_a_unigram_models(self):
        from allennlp.training.optimizers import DenseSparseAdam

        torch.manual_seed(0)
        tensors = self.dataset.as_tensor_dict()
        untrained = self._evaluation_perplexity(tensors)
        self.model.train()
        optimizer = DenseSparseAdam([(n, p) for n, p in self.model.named_parameters() if p.requires_grad], lr=1e-2)
        for _ in range(60):
            optimizer.zero_grad()
            self.model(**tensors)["loss"].backward()
            optimizer.step()
        perplexity = self._evaluation_perplexity(tensors)
        # The best unigram model of these very targets (both directions: each word but the boundary it lacks).
        token_ids = tensors["source"]["tokens"]["tokens"]
        targets = torch.cat([token_ids[:, 1:][token_ids[:, 1:] > 0], token_ids[:, :-1][token_ids[:, :-1] > 0]])
        probabilities = torch.bincount(targets).double() / len(targets)
        unigram_perplexity = math.exp(-probabilities[targets].log().mean().item())
        if self.word_level:
            assert perplexity < 0.8 * unigram_perplexity, (perplexity, unigram_perplexity)
        else:  # per word over its pieces: not comparable with a word unigram, but it must have learned
            assert perplexity < 0.2 * untrained, (perplexity, untrained)

    def _evaluation_perplexity(self, tensors) -> float:
        self.model.eval()
        self.model.get_metrics(reset=True)
        with torch.no_grad():
            self.model(**tensors)
        return self.model.get_metrics(reset=True)["perplexity"]


class TestSoftmax(_BaselineTestCase):
    output_layer = "softmax"
    output_class = SoftmaxOutputLayer


class TestSampledSoftmax(_BaselineTestCase):
    output_layer = "sampled_softmax"
    output_class = SampledSoftmaxOutputLayer

    def test_sparse_gradients_and_their_optimizer(self):
        params = Params.from_file(self.param_file)
        assert params["trainer"]["optimizer"]["type"] == "dense_sparse_adam"
        assert self.model.output_layer.sparse and len(self.model.output_layer.heads) == 2


class TestAdaptiveSoftmax(_BaselineTestCase):
    output_layer = "adaptive_softmax"
    output_class = AdaptiveSoftmaxOutputLayer


class TestSubwordSoftmax(_BaselineTestCase):
    output_layer = "subword_softmax"
    output_class = SubwordSoftmaxOutputLayer
    word_level = False


# -- the paper-size configs ----------------------------------------------------------------

BASELINES = {
    "elmo.jsonnet": "sampled_softmax",
    "elmo_a.jsonnet": "adaptive_softmax",
    "elmo_sub.jsonnet": "subword_softmax",
}


def _config(name):
    return Params.from_file(os.path.join(TRAINING_CONFIG, name)).as_dict(quiet=True)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_paper_configs_differ_from_elmo_c_only_in_the_output_layer(name):
    elmo_c, baseline = _config("elmo_c.jsonnet"), _config(name)
    assert baseline["model"]["output_layer"]["type"] == BASELINES[name]
    assert baseline["model"]["input_layer"] == elmo_c["model"]["input_layer"]
    assert baseline["model"]["encoder"] == elmo_c["model"]["encoder"]
    assert baseline["model"]["encoder"]["cell_size"] == 4096
    assert sum(width for _, width in baseline["model"]["input_layer"]["filters"]) == 2048
    for key in ("dataset_reader", "train_data_path", "validation_data_path", "data_loader"):
        assert baseline[key] == elmo_c[key], key
    without_output = {key: value for key, value in baseline["model"].items() if key != "output_layer"}
    assert without_output == {key: value for key, value in elmo_c["model"].items() if key != "output_layer"}
    # The trainer differs only in what selects the model (and the sampled softmax's optimizer).
    trainer, elmo_c_trainer = dict(baseline["trainer"]), dict(elmo_c["trainer"])
    assert trainer.pop("validation_metric") == "-perplexity"
    elmo_c_trainer.pop("validation_metric")
    optimizer, elmo_c_optimizer = trainer.pop("optimizer"), elmo_c_trainer.pop("optimizer")
    assert trainer == elmo_c_trainer
    expected_type = "dense_sparse_adam" if BASELINES[name] == "sampled_softmax" else "adam"
    assert optimizer == dict(elmo_c_optimizer, type=expected_type)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_paper_configs_output_layers_build(name):
    output_params = Params(_config(name)["model"]["output_layer"])
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace([f"w{i}" for i in range(40)], "tokens")
    layer = OutputLayer.from_params(output_params, vocab=vocab, input_dim=512)
    assert layer.share_between_directions
    if name == "elmo.jsonnet":
        assert layer.sparse and layer.num_samples == layer.num_word_classes - 1  # 8192, capped
    if name == "elmo_a.jsonnet":
        assert layer.cutoffs == [10]


def test_elmo_sub_reads_its_subword_model_from_the_environment(monkeypatch, tmp_path):
    assert _config("elmo_sub.jsonnet")["model"]["output_layer"]["subword_model"] == os.path.join(
        FIXTURES, "subwords", "bpe.model"
    )
    monkeypatch.setenv("ELMO_C_SUBWORDS", str(tmp_path / "pieces.model"))
    assert _config("elmo_sub.jsonnet")["model"]["output_layer"]["subword_model"] == str(tmp_path / "pieces.model")
