import os
import pickle

import numpy
import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.config_defaults import FIXTURES
from elmo_c.data import CountedVocabulary
from elmo_c.data.counted_vocabulary import token_counts
from elmo_c.data.dataset_readers import SentencesDatasetReader

TRAIN = os.path.join(FIXTURES, "lm", "train.txt")


@pytest.fixture(scope="module")
def instances():
    return list(SentencesDatasetReader().read(TRAIN))


def _expected_counts(instances, vocab):
    counts = {}
    for instance in instances:
        for token in instance["source"].tokens:
            counts[token.text] = counts.get(token.text, 0) + 1
    return [counts.get(vocab.get_token_from_index(i, "tokens"), 0) for i in range(vocab.get_vocab_size("tokens"))]


def test_counts_are_the_training_counts_in_index_order(instances):
    vocab = Vocabulary.from_params(Params({"type": "counted"}), instances=instances)
    assert isinstance(vocab, CountedVocabulary)
    counts = vocab.counts("tokens")
    assert counts.tolist() == _expected_counts(instances, vocab)
    assert counts[0] == 0 and counts[1] == 0  # padding and OOV
    assert counts[vocab.get_token_index("<S>")] == len(instances)


def test_counts_survive_saving_loading_and_pickling(instances, tmp_path):
    vocab = CountedVocabulary.from_instances(instances)
    vocab.save_to_files(str(tmp_path / "vocabulary"))
    loaded = CountedVocabulary.from_files(str(tmp_path / "vocabulary"))
    assert numpy.array_equal(loaded.counts("tokens"), vocab.counts("tokens"))
    assert numpy.array_equal(pickle.loads(pickle.dumps(loaded)).counts("tokens"), vocab.counts("tokens"))
    # AllenNLP's own Vocabulary reads the same directory (the counts file is hidden from it).
    plain = Vocabulary.from_files(str(tmp_path / "vocabulary"))
    assert plain.get_vocab_size("tokens") == vocab.get_vocab_size("tokens")
    assert token_counts(plain) is None


def test_a_vocabulary_without_counts_has_none(tmp_path):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b"], "tokens")
    vocab.save_to_files(str(tmp_path / "vocabulary"))
    assert CountedVocabulary.from_files(str(tmp_path / "vocabulary")).counts("tokens") is None


def test_a_counts_file_that_does_not_match_is_a_clear_error(instances, tmp_path):
    CountedVocabulary.from_instances(instances).save_to_files(str(tmp_path / "vocabulary"))
    counts_file = tmp_path / "vocabulary" / ".counts.tokens.txt"
    counts_file.write_text("3\n4\n")
    with pytest.raises(ConfigurationError, match="has 2 counts for the"):
        CountedVocabulary.from_files(str(tmp_path / "vocabulary"))
    counts_file.write_text("three\n")
    with pytest.raises(ConfigurationError, match="not a list of token counts"):
        CountedVocabulary.from_files(str(tmp_path / "vocabulary"))


def test_the_trained_archive_carries_the_counts(elmo_c_archive):
    from allennlp.models.archival import load_archive

    vocab = load_archive(elmo_c_archive).model.vocab
    assert isinstance(vocab, CountedVocabulary)
    counts = vocab.counts("tokens")
    assert counts is not None and counts[vocab.get_token_index("</S>")] > 0


def test_vocabularies_read_from_files_keep_their_counts(instances, tmp_path):
    # What distributed workers (and archives of distributed runs) are built with.
    CountedVocabulary.from_instances(instances).save_to_files(str(tmp_path / "vocabulary"))
    vocab = Vocabulary.from_params(Params({"type": "from_files", "directory": str(tmp_path / "vocabulary")}))
    assert vocab.counts("tokens") is not None and vocab.counts("tokens").sum() > 0
