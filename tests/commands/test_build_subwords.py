import os
import subprocess
import sys

import pytest
import sentencepiece
from allennlp.common.checks import ConfigurationError

from elmo_c.commands.build_subwords import train_subwords

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "fixtures", "lm", "train.txt")
VALID = os.path.join(ROOT, "fixtures", "lm", "valid.txt")
FIXTURE_MODEL = os.path.join(ROOT, "fixtures", "subwords", "bpe.model")
# The settings of scripts/make_fixtures.py's fixtures/subwords/bpe.model.
TINY = dict(vocab_size=128, character_coverage=1.0, max_sentences=0, normalization="identity", threads=1, seed=13)


def load(path):
    return sentencepiece.SentencePieceProcessor(model_file=str(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = str(tmp_path_factory.mktemp("subwords") / "bpe.model")
    return train_subwords([TRAIN], output, verbose=False, **TINY), output


def test_model_has_the_requested_pieces_and_boundaries(trained):
    returned, output = trained
    assert returned == output
    assert os.listdir(os.path.dirname(output)) == ["bpe.model"]  # no temporary file left
    pieces = load(output)
    assert pieces.get_piece_size() == 128
    assert [pieces.id_to_piece(i) for i in range(3)] == ["<unk>", "<S>", "</S>"]
    assert pieces.bos_id() == -1 and pieces.eos_id() == -1
    assert pieces.encode("cat", out_type=str) == ["▁cat"]
    assert "".join(pieces.encode("giraffe", out_type=str)) == "▁giraffe"  # unseen, from smaller pieces


def test_same_settings_give_the_fixture_bytes(trained):
    """The model is trained from an iterator into memory: no path ends up in it."""
    with open(trained[1], "rb") as built, open(FIXTURE_MODEL, "rb") as fixture:
        assert built.read() == fixture.read()


def test_several_files_and_globs(tmp_path):
    output = tmp_path / "both.model"
    train_subwords([TRAIN, os.path.join(ROOT, "fixtures", "lm", "val*.txt")], str(output), verbose=False, **TINY)
    assert load(output).get_piece_size() == 128


def test_missing_corpus_names_the_file(tmp_path):
    missing = str(tmp_path / "no-such-corpus.txt")
    with pytest.raises(ConfigurationError, match="no-such-corpus.txt"):
        train_subwords([missing], str(tmp_path / "out.model"), verbose=False, **TINY)
    assert os.listdir(tmp_path) == []


def test_empty_corpus_names_the_file(tmp_path):
    empty = tmp_path / "empty-corpus.txt"
    empty.write_text("\n  \n\t\n")
    with pytest.raises(ConfigurationError, match="empty-corpus.txt.*no tokens"):
        train_subwords([str(empty)], str(tmp_path / "out.model"), verbose=False, **TINY)
    assert os.listdir(tmp_path) == ["empty-corpus.txt"]


def test_too_many_pieces_for_the_corpus_is_a_configuration_error(tmp_path):
    settings = dict(TINY, vocab_size=100000)
    with pytest.raises(ConfigurationError, match="--vocab-size 100000 is too large.*at most \\d+ pieces"):
        train_subwords([TRAIN], str(tmp_path / "out.model"), verbose=False, **settings)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "flags, flag_name",
    [({"vocab_size": 1}, "--vocab-size"), ({"character_coverage": 0.0}, "--character-coverage"),
     ({"max_sentences": -1}, "--max-sentences"), ({"model_type": "word"}, "--model-type")],
)
def test_invalid_flags_are_rejected(tmp_path, flags, flag_name):
    with pytest.raises(ConfigurationError, match=flag_name):
        train_subwords([TRAIN], str(tmp_path / "out.model"), verbose=False, **dict(TINY, **flags))


def test_cli(tmp_path):
    output = str(tmp_path / "cli.model")
    allennlp = os.path.join(os.path.dirname(sys.executable), "allennlp")
    command = [allennlp, "build-subwords", TRAIN, output, "--vocab-size", "100", "--threads", "1"]
    command += ["--user-defined-symbols", "<S>,</S>,<X>", "--include-package", "elmo_c"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pieces = load(output)
    assert pieces.get_piece_size() == 100 and pieces.id_to_piece(3) == "<X>"
    assert "Read 60 sentences" in result.stderr and "Wrote" in result.stderr
