"""Hostile input and hostile environments that the other tests do not cover: output
folders that cannot be written, a disk that fills while `export-elmo` or
`elmo-c-embed` writes, data-loader workers over a glob of shards, and a training run
on a corpus with a 10,000-token line, a 1,000-character token and control characters.
(Reading such lines is tested in tests/data/test_sentences_reader.py.)"""
import collections
import contextlib
import errno
import json
import math
import os
import re
import subprocess

import h5py
import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.data.samplers import BucketBatchSampler
from allennlp.models.archival import load_archive

import elmo_c.commands.export_elmo as export_module
from elmo_c.commands.embed import embed_file
from elmo_c.commands.export_elmo import OPTIONS_NAME, WEIGHTS_NAME, export_elmo
from elmo_c.data.dataset_readers import SentencesDatasetReader

NO_SPACE = os.strerror(errno.ENOSPC)
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, NO_SPACE)


def fail_on_call(number: int, original):
    """`original`, except that call `number` (from 1) raises ENOSPC, as a disk filling midway."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            no_space()
        return original(*args, **kwargs)

    return wrapper


@pytest.fixture
def sentences_file(tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("the cat sat on the mat .\na dog chased the cat\n", encoding="utf-8")
    return str(path)


def blocked_folder(tmp_path):
    """A folder path that cannot be created: its parent is a regular file (works as root too)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "out"


# -- output folders that cannot be written ------------------------------------------------


def test_export_to_a_folder_that_cannot_be_created_names_it(elmo_c_archive, tmp_path):
    output_dir = blocked_folder(tmp_path)
    with pytest.raises(ConfigurationError, match=f"output folder {re.escape(str(output_dir))} "):
        export_elmo(elmo_c_archive, str(output_dir))


def test_export_to_a_path_that_is_a_file_names_it(elmo_c_archive, tmp_path):
    output_dir = tmp_path / "taken"
    output_dir.write_text("a file, not a folder")
    with pytest.raises(ConfigurationError, match=f"output folder {re.escape(str(output_dir))} "):
        export_elmo(elmo_c_archive, str(output_dir))
    assert output_dir.read_text() == "a file, not a folder"


def test_embed_into_a_folder_that_cannot_be_created_names_it(elmo_c_archive, sentences_file, tmp_path):
    folder = blocked_folder(tmp_path)
    with pytest.raises(ConfigurationError, match=f"output folder {re.escape(str(folder))} "):
        embed_file(elmo_c_archive, sentences_file, str(folder / "vectors.hdf5"))


def test_embed_to_a_folder_instead_of_a_file_names_it(elmo_c_archive, sentences_file, tmp_path):
    with pytest.raises(ConfigurationError, match=f"{re.escape(str(tmp_path))} is a folder"):
        embed_file(elmo_c_archive, sentences_file, str(tmp_path))


@contextlib.contextmanager
def read_only(folder):
    """
    Makes `folder` unwritable, for root too: root ignores permission bits, so as root
    the folder is made immutable (`chattr +i`, ext filesystems) instead.
    """
    if RUNNING_AS_ROOT:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("root, and this filesystem has no immutable attribute (chattr +i)")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o500)
        undo = ["chmod", "700", str(folder)]
    try:
        yield folder
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.parametrize("command", ["export-elmo", "elmo-c-embed"])
def test_a_read_only_folder_is_named(elmo_c_archive, sentences_file, tmp_path, command):
    folder = tmp_path / "read_only"
    folder.mkdir()
    with read_only(folder):
        with pytest.raises(ConfigurationError, match=f"output folder {re.escape(str(folder))} "):
            if command == "export-elmo":
                export_elmo(elmo_c_archive, str(folder))
            else:
                embed_file(elmo_c_archive, sentences_file, str(folder / "vectors.hdf5"))
    assert os.listdir(folder) == []


# -- a disk that fills while writing --------------------------------------------------------


@pytest.fixture
def previous_export(elmo_c_archive, tmp_path):
    """An earlier, complete export in tmp_path/out, and the bytes of its files."""
    output_dir = tmp_path / "out"
    export_elmo(elmo_c_archive, str(output_dir))
    return output_dir, {name: (output_dir / name).read_bytes() for name in (OPTIONS_NAME, WEIGHTS_NAME)}


class FillingFile:
    """A text file whose writes fail with ENOSPC once `capacity` characters were written."""

    def __init__(self, stream, capacity: int) -> None:
        self._stream = stream
        self._room = capacity

    def write(self, text: str) -> int:
        if len(text) > self._room:
            self._stream.write(text[: self._room])
            self._room = 0
            no_space()
        self._room -= len(text)
        return self._stream.write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._stream.close()


def _fill_the_weights(monkeypatch):
    # HDF5 writes through its own C I/O: fail the 5th dataset, midway through the file.
    monkeypatch.setattr(h5py.Group, "create_dataset", fail_on_call(5, h5py.Group.create_dataset))


def _fill_the_options(monkeypatch):
    # The weights are complete; the options file gets 100 characters, then the disk is full.
    def filling_open(path, mode="r", **kwargs):
        return FillingFile(open(path, mode, **kwargs), capacity=100)

    monkeypatch.setattr(export_module, "open", filling_open, raising=False)


def _fill_at_fsync(monkeypatch):
    # Delayed allocation: every write succeeded, flushing to disk fails.
    monkeypatch.setattr(os, "fsync", no_space)


@pytest.mark.parametrize("fill", [_fill_the_weights, _fill_the_options, _fill_at_fsync])
def test_a_disk_filling_during_export_leaves_the_previous_export_untouched(
    elmo_c_archive, previous_export, monkeypatch, fill
):
    output_dir, previous = previous_export
    fill(monkeypatch)
    with pytest.raises(OSError) as raised:
        export_elmo(elmo_c_archive, str(output_dir))
    assert raised.value.errno == errno.ENOSPC
    assert str(output_dir) in str(raised.value) and NO_SPACE in str(raised.value)
    monkeypatch.undo()
    assert sorted(os.listdir(output_dir)) == [OPTIONS_NAME, WEIGHTS_NAME]  # no temporary file left
    for name, content in previous.items():
        assert (output_dir / name).read_bytes() == content, name


@pytest.mark.parametrize("fill", ["second dataset", "fsync"])
def test_a_disk_filling_during_embed_leaves_the_previous_file_untouched(
    elmo_c_archive, sentences_file, tmp_path, monkeypatch, fill
):
    output = tmp_path / "vectors.hdf5"
    output.write_bytes(b"previous")
    if fill == "fsync":
        monkeypatch.setattr(os, "fsync", no_space)
    else:
        monkeypatch.setattr(h5py.Group, "create_dataset", fail_on_call(2, h5py.Group.create_dataset))
    with pytest.raises(OSError) as raised:
        embed_file(elmo_c_archive, sentences_file, str(output), batch_size=1)
    assert raised.value.errno == errno.ENOSPC
    assert str(output) in str(raised.value) and NO_SPACE in str(raised.value)
    monkeypatch.undo()
    assert output.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["sentences.txt", "vectors.hdf5"]


# -- data-loader workers over shards --------------------------------------------------------


def write_shards(directory, num_shards: int = 5):
    """Shards of sentences whose every token is unique, of 1 to 13 tokens; returns the sentences."""
    sentences = []
    for shard in range(num_shards):
        lines = []
        for line in range(17 + 3 * shard):
            words = [f"s{shard}l{line}w{k}" for k in range(1 + (7 * line + shard) % 13)]
            lines.append(" ".join(words))
            sentences.append(tuple(words))
        (directory / f"shard-{shard}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sentences


def words_read(loader, vocab):
    """Every token of every batch of one pass, as text, padding left out."""
    words = []
    for batch in loader:
        ids = batch["source"]["tokens"]["tokens"]
        words.extend(vocab.get_token_from_index(i) for i in ids[ids > 0].tolist())
    return words


@pytest.mark.parametrize("window_size", [None, 5])
def test_two_workers_read_every_sentence_of_every_shard_exactly_once(tmp_path, window_size):
    sentences = write_shards(tmp_path)
    reader = SentencesDatasetReader(window_size=window_size)
    loader = MultiProcessDataLoader(
        reader,
        str(tmp_path / "shard-*.txt"),
        batch_sampler=BucketBatchSampler(batch_size=8, sorting_keys=["source"]),
        max_instances_in_memory=16,
        num_workers=2,
    )
    # As `allennlp train` builds the vocabulary: instances from the same 2 workers.
    vocab = Vocabulary.from_instances(loader.iter_instances())
    loader.index_with(vocab)
    expected = collections.Counter(word for sentence in sentences for word in sentence)
    assert max(expected.values()) == 1
    for _ in range(2):  # every epoch
        words = words_read(loader, vocab)
        assert words.count("<S>") == words.count("</S>") == len(sentences)
        assert collections.Counter(word for word in words if word not in ("<S>", "</S>")) == expected


def test_two_workers_keep_whole_sentences_together(tmp_path):
    sentences = write_shards(tmp_path, num_shards=3)
    loader = MultiProcessDataLoader(
        SentencesDatasetReader(), str(tmp_path / "shard-*.txt"), batch_size=4, max_instances_in_memory=8, num_workers=2
    )
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace([word for sentence in sentences for word in sentence] + ["<S>", "</S>"])
    loader.index_with(vocab)
    read = []
    for batch in loader:
        for row in batch["source"]["tokens"]["tokens"].tolist():
            tokens = [vocab.get_token_from_index(i) for i in row if i > 0]
            assert tokens[0] == "<S>" and tokens[-1] == "</S>"
            read.append(tuple(tokens[1:-1]))
    assert collections.Counter(read) == collections.Counter(sentences)


# -- training on a hostile corpus -----------------------------------------------------------

CONTROL_LINE = "null\x00byte bell\x07 esc\x1b[0m del\x7f zero\u200bwidth bom\ufeffinside a\x1cb c\x85d e\u2028f g\rh"
CONTROL_TOKENS = ["null\x00byte", "bell\x07", "esc\x1b[0m", "del\x7f", "zero\u200bwidth", "bom\ufeffinside"]


def test_training_on_a_hostile_corpus_completes(fixtures_dir, tmp_path):
    with open(os.path.join(fixtures_dir, "lm", "train.txt"), encoding="utf-8") as stream:
        lines = stream.read().splitlines()
    fixture_words = " ".join(lines).split()
    wide_token = "abcdefghij" * 100
    hostile = [
        " ".join(fixture_words[i % len(fixture_words)] for i in range(10_000)),  # 25 pieces of 400 tokens
        f"the cat {wide_token} sat",
        CONTROL_LINE,
    ]
    corpus = tmp_path / "hostile.txt"
    corpus.write_text("\n".join(lines[:20] + hostile) + "\n", encoding="utf-8")
    serialization_dir = tmp_path / "run"
    overrides = {"train_data_path": str(corpus), "trainer": {"num_epochs": 1}}
    train_model_from_file(
        os.path.join(fixtures_dir, "configs", "elmo_c_tiny.jsonnet"), str(serialization_dir), json.dumps(overrides)
    )
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["training_loss"]) and math.isfinite(metrics["validation_loss"])
    vocab = load_archive(str(serialization_dir / "model.tar.gz")).model.vocab
    tokens = vocab.get_token_to_index_vocabulary("tokens")
    for token in CONTROL_TOKENS + [wide_token, "a", "b", "c", "d", "e", "f", "g", "h"]:
        assert token in tokens, repr(token)
