import logging
import os
import sys

import h5py
import numpy
import pytest
import torch
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError
from allennlp.modules.elmo import batch_to_ids

import elmo_c.commands.embed as embed_module
from elmo_c.commands.embed import embed_file
from elmo_c.models.archive_loading import PretrainedBiLm

LINES = ["the cat sat on the mat .", "", "a dog chased Zürich", "  ", "the   old man"]


@pytest.fixture
def input_file(tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def bilm(elmo_c_archive):
    return PretrainedBiLm.from_archive(elmo_c_archive)


def alone(bilm, tokens):
    """Every layer of one sentence embedded on its own: (num_layers, num_tokens, dim)."""
    with torch.no_grad():
        layers, _ = PretrainedBiLm.remove_boundaries(*bilm(batch_to_ids([tokens])))
    return torch.stack(layers, dim=1)[0].numpy()


def read(path):
    with h5py.File(path, "r") as vectors:
        return {key: vectors[key][...] for key in vectors}


def test_every_line_gets_every_layer_as_if_embedded_alone(elmo_c_archive, bilm, input_file, tmp_path):
    output = str(tmp_path / "vectors.hdf5")
    assert embed_file(elmo_c_archive, input_file, output, batch_size=2) == 5
    vectors = read(output)
    assert sorted(vectors) == ["0", "1", "2", "3", "4"]
    assert vectors["0"].shape == (3, 7, 32)
    assert vectors["4"].shape == (3, 3, 32)
    for key in ("0", "2", "4"):
        expected = alone(bilm, LINES[int(key)].split())
        numpy.testing.assert_allclose(vectors[key], expected, rtol=0, atol=1e-5)
    assert numpy.abs(vectors["0"]).max() > 0.1


def test_empty_lines_get_empty_datasets_and_a_warning(elmo_c_archive, input_file, tmp_path, caplog):
    output = str(tmp_path / "vectors.hdf5")
    with caplog.at_level(logging.WARNING, logger="elmo_c.commands.embed"):
        embed_file(elmo_c_archive, input_file, output, batch_size=64)
    vectors = read(output)
    assert vectors["1"].shape == vectors["3"].shape == (3, 0, 32)
    assert "2 empty lines" in caplog.text


def test_top_and_average_layers(elmo_c_archive, input_file, tmp_path):
    every = read(_embed(elmo_c_archive, input_file, tmp_path, "all"))
    top = read(_embed(elmo_c_archive, input_file, tmp_path, "top"))
    average = read(_embed(elmo_c_archive, input_file, tmp_path, "average"))
    assert top["0"].shape == average["0"].shape == (7, 32)
    assert top["1"].shape == (0, 32)
    numpy.testing.assert_allclose(top["2"], every["2"][-1], rtol=0, atol=1e-6)
    numpy.testing.assert_allclose(average["2"], every["2"].mean(axis=0), rtol=0, atol=1e-6)


def _embed(archive, input_file, directory, layers):
    output = str(directory / f"{layers}.hdf5")
    embed_file(archive, input_file, output, layers=layers)
    return output


def test_the_subcommand_writes_the_file(elmo_c_archive, input_file, tmp_path, monkeypatch):
    output = str(tmp_path / "cli.hdf5")
    argv = ["allennlp", "elmo-c-embed", elmo_c_archive, input_file, output, "--batch-size", "3", "--layers", "top"]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    assert read(output)["4"].shape == (3, 32)


def test_a_failure_midway_leaves_the_previous_output_untouched(elmo_c_archive, input_file, tmp_path, monkeypatch):
    output = tmp_path / "vectors.hdf5"
    output.write_bytes(b"previous")
    calls = []
    complete = embed_module._sentence_vectors

    def failing_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return complete(*args)

    monkeypatch.setattr(embed_module, "_sentence_vectors", failing_on_the_second_batch)
    with pytest.raises(RuntimeError, match="out of memory"):
        embed_file(elmo_c_archive, input_file, str(output), batch_size=2)
    assert output.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["sentences.txt", "vectors.hdf5"]  # no temporary file left


def test_bad_arguments_are_refused_before_writing(elmo_c_archive, input_file, tmp_path):
    output = str(tmp_path / "vectors.hdf5")
    with pytest.raises(ConfigurationError, match="Cannot read the input file .*missing.txt"):
        embed_file(elmo_c_archive, str(tmp_path / "missing.txt"), output)
    with pytest.raises(ConfigurationError, match="layers must be one of"):
        embed_file(elmo_c_archive, input_file, output, layers="bottom")
    with pytest.raises(ConfigurationError, match="does not exist"):
        embed_file(str(tmp_path / "no_model.tar.gz"), input_file, output)
    assert not os.path.exists(output)


def test_invalid_utf8_names_the_line(elmo_c_archive, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("the cat\nZürich\n".encode("latin-1"))
    with pytest.raises(ConfigurationError, match="line 2, is not valid UTF-8"):
        embed_file(elmo_c_archive, str(path), str(tmp_path / "vectors.hdf5"))
    assert not os.path.exists(tmp_path / "vectors.hdf5")


def test_a_line_longer_than_the_readers_limit_gets_every_vector(elmo_c_archive, bilm, tmp_path):
    words = [f"w{i % 50}" for i in range(450)]  # the archive's reader splits at 400 words
    path = tmp_path / "long.txt"
    path.write_text(" ".join(words) + "\nthe cat\n", encoding="utf-8")
    output = str(tmp_path / "vectors.hdf5")
    embed_file(elmo_c_archive, str(path), output, batch_size=2)
    vectors = read(output)
    assert vectors["0"].shape == (3, 450, 32)
    numpy.testing.assert_allclose(vectors["0"], alone(bilm, words), rtol=0, atol=1e-5)
