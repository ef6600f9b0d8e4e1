"""
The downstream configs in `training_config/downstream/`, trained and evaluated as
`allennlp train` and `allennlp evaluate` run them, on the bundled fixtures and the
tiny pretrained ELMo-C (`fixtures/elmo_c_tiny/model.tar.gz`): one epoch, with the
configs' size fields made small (the sizes that others derive from follow).
"""
import io
import json
import math
import os
import tarfile
from typing import Dict, List, Tuple

import allennlp_models.classification  # noqa: F401  (registers bcn and sst_tokens)
import allennlp_models.structured_prediction  # noqa: F401  (registers srl)
import allennlp_models.tagging  # noqa: F401  (registers crf_tagger)
import pytest
import torch
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.commands.train import train_model_from_file
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model

import elmo_c  # noqa: F401  (registers the plugin)
from elmo_c.config_defaults import DEFAULTS, FIXTURES

CONFIGS = os.path.join(os.path.dirname(FIXTURES), "training_config", "downstream")
DOWNSTREAM_VARIABLES = ["ELMO_C_ARCHIVE", "ELMO_C_DIM", "ELMO_C_EMBEDDER", "ELMO_C_SST_GRANULARITY"] + [
    f"ELMO_C_{task}_{split}" for task in ("NER", "SRL", "SST", "CLS") for split in ("TRAIN", "DEV", "TEST")
]
SPAN_F1 = ["precision-overall", "recall-overall", "f1-measure-overall"]
ELMO_C_MODULE = "token_embedder_elmo_c."  # in the models' text field embedders
ELMO_C_DIM = 32  # 2 x the projection_dim of the tiny archive
NER_SIZES = {"word_dim": 8, "char_filters": 8, "lstm_size": 16, "lstm_layers": 1}
NER_DIM_WITH_ELMO_C = 50 + 128 + ELMO_C_DIM  # ner_elmo_c.jsonnet's words, characters and ELMo-C


@pytest.fixture(autouse=True)
def downstream_defaults(monkeypatch):
    """The bundled fixtures, whatever the caller's environment points the variables at."""
    for name in DOWNSTREAM_VARIABLES:
        monkeypatch.setenv(name, DEFAULTS[name])


def train_and_evaluate(config: str, tmp_path, sizes: Dict[str, int], test_variable: str) -> Tuple[Model, Dict]:
    """
    `allennlp train` of the config with its size fields set to `sizes` for one epoch,
    then `allennlp evaluate` of the archive on the test file named by `test_variable`.
    """
    small_config = tmp_path / "small.jsonnet"
    fields = ", ".join(f"{name}:: {value}" for name, value in sizes.items())
    small_config.write_text(f"(import {json.dumps(os.path.join(CONFIGS, config))}) + {{ {fields} }}\n")
    serialization_dir = tmp_path / "model"
    model = train_model_from_file(small_config, serialization_dir, overrides=json.dumps({"trainer.num_epochs": 1}))
    metrics_path = tmp_path / "test_metrics.json"
    evaluate_from_archive(
        str(serialization_dir / "model.tar.gz"), os.environ[test_variable], metrics_output_file=str(metrics_path)
    )
    return model, json.loads(metrics_path.read_text())


def assert_scores(metrics: Dict, names: List[str]) -> None:
    for name in names:
        assert 0.0 <= metrics[name] <= 1.0, f"{name} = {metrics.get(name)}"
    assert math.isfinite(metrics["loss"])


def pretrained_bilm_weights(archive: str) -> Dict[str, torch.Tensor]:
    """The character CNN and LSTM weights stored in an ELMo-C archive."""
    with tarfile.open(archive) as tar:
        state = torch.load(io.BytesIO(tar.extractfile("weights.th").read()), map_location="cpu")
    return {name: tensor for name, tensor in state.items() if name.startswith(("input_layer.", "encoder."))}


def assert_frozen_pretrained_bilm(model: Model) -> None:
    """Only the scalar mix of ELMo-C trains; its biLM holds the archive's weights, unchanged."""
    elmo_c_parameters = {n: p for n, p in model.named_parameters() if ELMO_C_MODULE in n}
    trainable = [name for name, parameter in elmo_c_parameters.items() if parameter.requires_grad]
    assert trainable and all("scalar_mix" in name for name in trainable)
    frozen = {name: p for name, p in elmo_c_parameters.items() if not p.requires_grad}
    pretrained = pretrained_bilm_weights(os.environ["ELMO_C_ARCHIVE"])
    assert len(frozen) == len(pretrained)
    for key, tensor in pretrained.items():
        (name,) = [name for name in frozen if name.endswith("." + key)]
        torch.testing.assert_close(frozen[name].detach(), tensor)


@pytest.mark.parametrize("embedder", ["true", "false"])
def test_ner_tagger_trains_and_evaluates_span_f1(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_C_EMBEDDER", embedder)
    model, metrics = train_and_evaluate("ner_elmo_c.jsonnet", tmp_path, NER_SIZES, "ELMO_C_NER_TEST")
    assert_scores(metrics, SPAN_F1 + ["accuracy"])
    # BIOUL tags of the four CoNLL types (as the fixtures have them) and O.
    labels = set(model.vocab.get_token_to_index_vocabulary("labels"))
    assert {"U-PER", "B-ORG", "I-LOC", "L-MISC", "O"} <= labels
    words_and_characters = NER_SIZES["word_dim"] + NER_SIZES["char_filters"]
    if embedder == "true":
        assert model.text_field_embedder.get_output_dim() == words_and_characters + ELMO_C_DIM
        assert_frozen_pretrained_bilm(model)
    else:
        assert model.text_field_embedder.get_output_dim() == words_and_characters
        assert not any(ELMO_C_MODULE in name for name, _ in model.named_parameters())


def test_small_ner_config_is_the_tagger_at_demo_size():
    config = Params.from_file(os.path.join(CONFIGS, "ner_elmo_c_small.jsonnet")).as_dict()
    encoder = config["model"]["encoder"]
    assert (encoder["hidden_size"], encoder["num_layers"]) == (100, 1)
    characters = config["model"]["text_field_embedder"]["token_embedders"]["token_characters"]
    assert encoder["input_size"] == 50 + characters["encoder"]["num_filters"] + ELMO_C_DIM


def test_srl_model_trains_and_evaluates_span_f1(tmp_path):
    sizes = {"word_dim": 8, "verb_dim": 4, "lstm_size": 16, "lstm_layers": 2}
    model, metrics = train_and_evaluate("srl_elmo_c.jsonnet", tmp_path, sizes, "ELMO_C_SRL_TEST")
    assert_scores(metrics, SPAN_F1)
    assert {"B-V", "B-ARG0", "I-ARG1", "B-ARGM-TMP"} <= set(model.vocab.get_token_to_index_vocabulary("labels"))
    assert_frozen_pretrained_bilm(model)


@pytest.mark.parametrize("embedder", ["true", "false"])
def test_classifier_trains_and_evaluates_accuracy(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_C_EMBEDDER", embedder)
    sizes = {"word_dim": 8, "lstm_size": 8}
    model, metrics = train_and_evaluate("classification_elmo_c.jsonnet", tmp_path, sizes, "ELMO_C_CLS_TEST")
    assert_scores(metrics, ["accuracy"])
    assert sorted(model.vocab.get_token_to_index_vocabulary("labels")) == ["negative", "positive"]
    if embedder == "true":
        assert model._text_field_embedder.get_output_dim() == 8 + ELMO_C_DIM
        assert_frozen_pretrained_bilm(model)
    else:
        assert not any(ELMO_C_MODULE in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("granularity, num_classes", [("5-class", 5), ("2-class", 2)])
def test_bcn_trains_and_evaluates_accuracy(granularity, num_classes, tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_C_SST_GRANULARITY", granularity)
    model, metrics = train_and_evaluate("sst_elmo_c.jsonnet", tmp_path, {"word_dim": 8, "hidden": 8}, "ELMO_C_SST_TEST")
    assert_scores(metrics, ["accuracy"])
    assert sorted(model.vocab.get_token_to_index_vocabulary("labels")) == [str(i) for i in range(num_classes)]
    assert_frozen_pretrained_bilm(model)


def test_an_elmo_c_dim_unlike_the_archive_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_C_DIM", str(2 * ELMO_C_DIM))
    with pytest.raises(ConfigurationError, match=f"{NER_DIM_WITH_ELMO_C} and {NER_DIM_WITH_ELMO_C + ELMO_C_DIM}"):
        train_model_from_file(os.path.join(CONFIGS, "ner_elmo_c.jsonnet"), tmp_path / "model")


def test_an_unknown_embedder_switch_is_refused(monkeypatch):
    monkeypatch.setenv("ELMO_C_EMBEDDER", "yes")
    with pytest.raises(RuntimeError, match='ELMO_C_EMBEDDER must be "true" or "false"'):
        Params.from_file(os.path.join(CONFIGS, "ner_elmo_c.jsonnet"))
