import json
import sys

import numpy
import pytest
import torch
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive
from allennlp.modules.elmo import batch_to_ids
from allennlp.predictors import Predictor

from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.predictors import ElmoCEmbedderPredictor


@pytest.fixture(scope="module")
def predictor(elmo_c_archive):
    # The target vectors are needed by no part of prediction: point them nowhere.
    overrides = {"model.output_layer.target_embeddings.path": "/nonexistent/vectors.bin"}
    return Predictor.from_path(elmo_c_archive, "elmo_c_embedder", overrides=overrides)


def test_returns_every_layer_of_the_tokens_without_boundaries(predictor, elmo_c_archive):
    output = predictor.predict("the cat sat on the mat .")
    assert output["tokens"] == ["the", "cat", "sat", "on", "the", "mat", "."]
    layers = numpy.array(output["layers"])
    assert layers.shape == (3, 7, 32)
    bilm = PretrainedBiLm.from_archive(elmo_c_archive)
    with torch.no_grad():
        expected, _ = PretrainedBiLm.remove_boundaries(*bilm(batch_to_ids([output["tokens"]])))
    numpy.testing.assert_allclose(layers, torch.stack(expected)[:, 0].numpy(), rtol=0, atol=1e-5)
    assert numpy.abs(layers).max() > 0.1


def test_tokens_and_sentences_give_the_same_output(predictor):
    from_tokens = predictor.predict_json({"tokens": ["a", "dog", "chased", "the", "cat"]})
    from_sentence = predictor.predict_json({"sentence": "a dog chased the cat"})
    assert from_tokens["tokens"] == from_sentence["tokens"]
    numpy.testing.assert_allclose(from_tokens["layers"], from_sentence["layers"], rtol=0, atol=1e-6)


def test_a_batch_gives_what_each_sentence_gives_alone(predictor):
    inputs = [{"sentence": "the cat sat"}, {"sentence": "a dog chased the cat across the garden ."}, {"tokens": []}]
    batched = predictor.predict_batch_json(inputs)
    assert [len(output["tokens"]) for output in batched] == [3, 9, 0]
    assert numpy.array(batched[2]["layers"]).shape == (3, 0)
    for inputs_alone, output in zip(inputs[:2], batched[:2]):
        alone = predictor.predict_json(inputs_alone)
        numpy.testing.assert_allclose(output["layers"], alone["layers"], rtol=0, atol=1e-5)


def test_inputs_without_text_are_refused(predictor):
    with pytest.raises(ConfigurationError, match='"sentence" or a "tokens" key'):
        predictor.predict_json({"text": "the cat"})


def test_only_elmo_c_models_are_accepted(elmo_c_archive):
    archive = load_archive(elmo_c_archive)
    with pytest.raises(ConfigurationError, match="needs an ELMo-C language model"):
        ElmoCEmbedderPredictor(torch.nn.Linear(2, 2), archive.dataset_reader)  # type: ignore[arg-type]


def test_allennlp_predict_writes_one_line_per_input(elmo_c_archive, tmp_path, monkeypatch):
    input_file = tmp_path / "input.jsonl"
    input_file.write_text('{"sentence": "the cat sat"}\n{"tokens": ["a", "dog"]}\n', encoding="utf-8")
    output_file = tmp_path / "output.jsonl"
    argv = ["allennlp", "predict", elmo_c_archive, str(input_file), "--predictor", "elmo_c_embedder"]
    monkeypatch.setattr(sys, "argv", argv + ["--output-file", str(output_file), "--silent", "--batch-size", "2"])
    main()
    outputs = [json.loads(line) for line in output_file.read_text().splitlines()]
    assert [output["tokens"] for output in outputs] == [["the", "cat", "sat"], ["a", "dog"]]
    assert numpy.array(outputs[1]["layers"]).shape == (3, 2, 32)
