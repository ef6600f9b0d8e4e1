import json
import sys

import numpy
import pytest
import torch
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, Token
from allennlp.data.fields import TextField
from allennlp.models.archival import load_archive
from allennlp.modules.elmo import batch_to_ids
from allennlp.predictors import Predictor

from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.predictors import ElmoCEmbedderPredictor
from elmo_c.predictors.elmo_c_embedder import overlapping_windows


@pytest.fixture(scope="module")
def predictor(elmo_c_archive):
    # The target vectors are needed by no part of prediction: point them nowhere.
    overrides = {"model.output_layer.target_embeddings.path": "/nonexistent/vectors.bin"}
    return Predictor.from_path(elmo_c_archive, "elmo_c_embedder", overrides=overrides)


# Sentences of more than 8 words are embedded in windows of 10 positions (boundaries
# included) that start 6 apart and keep all but 2 positions on each inner side.
MAX_WORDS = 8


@pytest.fixture(scope="module")
def short_predictor(elmo_c_archive):
    overrides = {
        "model.output_layer.target_embeddings.path": "/nonexistent/vectors.bin",
        "dataset_reader.max_sequence_length": MAX_WORDS,
    }
    return Predictor.from_path(elmo_c_archive, "elmo_c_embedder", overrides=overrides)


def piece_alone(predictor, stream):
    """Every layer of one piece of the boundary-included token stream, run on its own."""
    output = predictor.predict_instance(Instance({"source": TextField([Token(text) for text in stream])}))
    return numpy.array(output["layers"])


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


@pytest.mark.parametrize("length", [0, 1, 9, 10, 11, 16, 17, 25, 100])
def test_overlapping_windows_keep_every_position_once_with_context(length):
    size, margin = 10, 2
    windows = overlapping_windows(length, size)
    kept = [position for window in windows for position in range(window.keep_start, window.keep_end)]
    assert kept == list(range(length))
    for window in windows:
        assert 0 <= window.start <= window.keep_start <= window.keep_end <= window.end <= length
        assert window.end - window.start <= size
        assert window.keep_start - window.start >= (margin if window.start > 0 else 0)
        assert window.end - window.keep_end >= (margin if window.end < length else 0)
    assert len(windows) == 1 or all(window.end - window.start == size for window in windows[:-1])


def test_a_sentence_longer_than_the_limit_gets_one_vector_per_token(short_predictor):
    words = [f"w{i}" for i in range(int(2.5 * MAX_WORDS) + 5)]
    for output in (short_predictor.predict(" ".join(words)), short_predictor.predict_json({"tokens": words})):
        assert output["tokens"] == words
        assert numpy.array(output["layers"]).shape == (3, len(words), 32)


def test_each_window_keeps_the_vectors_of_its_piece_embedded_alone(short_predictor):
    words = "the cat sat on the mat . a dog chased the cat across the garden and the old man sat".split()
    layers = numpy.array(short_predictor.predict(" ".join(words))["layers"])
    stream = ["<S>"] + words + ["</S>"]
    windows = overlapping_windows(len(stream), MAX_WORDS + 2)
    assert [(window.start, window.end) for window in windows] == [(0, 10), (6, 16), (12, 22)]
    # The first piece: <S> and the first 9 words, without </S>; it keeps <S> and 7 words.
    prefix = piece_alone(short_predictor, stream[:10])
    numpy.testing.assert_allclose(layers[:, :7], prefix[:, :7], rtol=0, atol=1e-5)
    for window in windows:
        alone = piece_alone(short_predictor, stream[window.start : window.end])
        skipped = 1 if window.start == 0 else 0  # <S>, left out of the piece's output
        positions = [p for p in range(window.keep_start, window.keep_end) if 1 <= p <= len(words)]
        sentence_rows = [p - 1 for p in positions]
        piece_rows = [p - window.start - skipped for p in positions]
        numpy.testing.assert_allclose(layers[:, sentence_rows], alone[:, piece_rows], rtol=0, atol=1e-5)


def test_windowing_changes_only_the_contextual_layers(short_predictor, predictor):
    words = "the cat sat on the mat . a dog chased the cat across the garden and the old man sat".split()
    windowed = numpy.array(short_predictor.predict(" ".join(words))["layers"])
    whole = numpy.array(predictor.predict(" ".join(words))["layers"])  # max_sequence_length 400: one window
    numpy.testing.assert_allclose(windowed[0], whole[0], rtol=0, atol=1e-6)  # the input layer has no context
    assert numpy.abs(windowed[-1] - whole[-1]).max() > 1e-4


def test_a_batch_of_long_and_short_sentences_gives_what_each_gives_alone(short_predictor):
    inputs = [{"sentence": " ".join(f"w{i}" for i in range(23))}, {"sentence": "the cat sat"}, {"tokens": []}]
    batched = short_predictor.predict_batch_json(inputs)
    assert [len(output["tokens"]) for output in batched] == [23, 3, 0]
    for inputs_alone, output in zip(inputs[:2], batched[:2]):
        alone = short_predictor.predict_json(inputs_alone)
        numpy.testing.assert_allclose(output["layers"], alone["layers"], rtol=0, atol=1e-5)
