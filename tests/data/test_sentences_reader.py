import os

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer, SingleIdTokenIndexer
from allennlp.data.tokenizers import Tokenizer

from elmo_c.data.dataset_readers import SentencesDatasetReader
from elmo_c.data.tokenizers import SpacyBlankTokenizer

# ELMo's character ids (shifted by one so that 0 is padding).
BEGIN_OF_WORD, END_OF_WORD, CHAR_PADDING = 259, 260, 261


def texts(instance):
    return [token.text for token in instance["source"].tokens]


def read(path, **kwargs):
    return list(SentencesDatasetReader(**kwargs).read(str(path)))


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def character_ids(instance):
    vocab = Vocabulary.from_instances([instance])
    instance.index_fields(vocab)
    return instance.as_tensor_dict()["source"]["elmo_characters"]["elmo_tokens"]


def test_reads_the_fixture_corpus(fixtures_dir):
    path = os.path.join(fixtures_dir, "lm", "train.txt")
    with open(path, encoding="utf-8") as corpus:
        lines = [line.split() for line in corpus if line.strip()]
    instances = read(path)
    assert len(instances) == len(lines) == 60
    for instance, words in zip(instances, lines):
        assert list(instance.fields) == ["source"]
        assert texts(instance) == ["<S>"] + words + ["</S>"]
    indexers = instances[0]["source"].token_indexers
    assert set(indexers) == {"elmo_characters", "tokens"}
    assert isinstance(indexers["elmo_characters"], ELMoTokenCharactersIndexer)
    assert isinstance(indexers["tokens"], SingleIdTokenIndexer) and indexers["tokens"].namespace == "tokens"
    vocab = Vocabulary.from_instances(instances)
    instances[0].index_fields(vocab)
    tensors = instances[0].as_tensor_dict()["source"]
    length = len(lines[0]) + 2
    assert tensors["elmo_characters"]["elmo_tokens"].shape == (length, 50)
    assert tensors["tokens"]["tokens"].tolist() == [vocab.get_token_index(t) for t in texts(instances[0])]


def test_without_boundaries(fixtures_dir):
    instances = read(os.path.join(fixtures_dir, "lm", "valid.txt"), add_boundaries=False)
    assert texts(instances[0]) == "the dog sat on the warm mat .".split()
    assert not any("<S>" in texts(instance) or "</S>" in texts(instance) for instance in instances)


def test_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path / "blank.txt", "\n  \none two\r\n\t\n\nthree\n   \n")
    assert [texts(instance) for instance in read(path, add_boundaries=False)] == [["one", "two"], ["three"]]


def test_a_glob_reads_every_shard_in_order(tmp_path):
    write(tmp_path / "shard-2.txt", "second shard\n")
    write(tmp_path / "shard-1.txt", "first shard\nstill first\n")
    write(tmp_path / "other.txt", "not a shard\n")
    instances = read(tmp_path / "shard-*.txt", add_boundaries=False)
    assert [texts(instance) for instance in instances] == [["first", "shard"], ["still", "first"],
                                                             ["second", "shard"]]


def test_long_sentences_are_split_with_boundaries_only_at_the_real_ends(tmp_path):
    words = [f"w{i}" for i in range(7)]
    instances = read(write(tmp_path / "long.txt", " ".join(words) + "\nshort one\n"), max_sequence_length=3)
    assert [texts(instance) for instance in instances] == [
        ["<S>", "w0", "w1", "w2"], ["w3", "w4", "w5"], ["w6", "</S>"], ["<S>", "short", "one", "</S>"],
    ]


def test_a_sentence_two_and_a_half_pieces_long(tmp_path):
    words = [f"w{i}" for i in range(25)]
    pieces = [texts(instance) for instance in read(write(tmp_path / "long.txt", " ".join(words) + "\n"),
                                                   max_sequence_length=10)]
    stream = [token for piece in pieces for token in piece]
    assert len(pieces) == 3
    assert stream.count("<S>") == 1 and pieces[0][0] == "<S>"
    assert stream.count("</S>") == 1 and pieces[-1][-1] == "</S>"
    assert [token for token in stream if token not in ("<S>", "</S>")] == words
    assert [len(piece) for piece in pieces] == [11, 10, 6]


def test_a_10000_token_sentence(tmp_path):
    words = [f"w{i}" for i in range(10_000)]
    instances = read(write(tmp_path / "huge.txt", " ".join(words) + "\n"), add_boundaries=False)
    assert [len(instance["source"]) for instance in instances] == [400] * 25
    assert [word for instance in instances for word in texts(instance)] == words


def test_a_1000_character_token_is_truncated_by_the_character_indexer(tmp_path):
    token = "abcdefghij" * 100
    instances = read(write(tmp_path / "wide.txt", f"short {token} end\n"))
    assert texts(instances[0])[2] == token
    ids = character_ids(instances[0])
    assert ids.shape == (5, 50)
    wide = ids[2].tolist()
    assert wide[0] == BEGIN_OF_WORD and wide[-1] == END_OF_WORD
    assert bytes(i - 1 for i in wide[1:-1]).decode() == token[:48]
    assert ids[1].tolist()[:7] == [BEGIN_OF_WORD] + [ord(c) + 1 for c in "short"] + [END_OF_WORD]


def test_control_characters_survive(tmp_path):
    line = "null\x00byte bell\x07 esc\x1b[0m del\x7f\n"
    instances = read(write(tmp_path / "control.txt", line), add_boundaries=False)
    assert texts(instances[0]) == ["null\x00byte", "bell\x07", "esc\x1b[0m", "del\x7f"]
    ids = character_ids(instances[0])
    assert ids[0, 5].item() == 0 + 1  # the NUL byte is kept as a character


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine line\ncaf\xe9 au lait\n")
    with pytest.raises(ConfigurationError, match=r"latin1.txt, line 2, is not valid UTF-8.*encoding_errors"):
        read(path)
    with pytest.raises(ConfigurationError, match=r"latin1.txt, line 2"):
        read(path, encoding_errors="strict")
    instances = read(path, encoding_errors="replace", add_boundaries=False)
    assert [texts(instance) for instance in instances] == [["fine", "line"], ["caf\ufffd", "au", "lait"]]


@pytest.mark.parametrize("name", ["empty.txt", "blank-*.txt", "no-match-*.txt", "absent.txt"])
def test_no_text_is_an_error(tmp_path, name):
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "blank-1.txt", "\n \n")
    write(tmp_path / "blank-2.txt", "")
    with pytest.raises(ConfigurationError, match=name.replace("*", r"\*")):
        read(tmp_path / name)


def test_invalid_options():
    with pytest.raises(ConfigurationError, match="max_sequence_length"):
        SentencesDatasetReader(max_sequence_length=0)
    with pytest.raises(ConfigurationError, match="encoding_errors"):
        SentencesDatasetReader(encoding_errors="ignore")


def test_text_to_instance_keeps_the_whole_sentence():
    reader = SentencesDatasetReader(max_sequence_length=2)
    assert reader.max_sequence_length == 2
    assert texts(reader.text_to_instance("a b c")) == ["<S>", "a", "b", "c", "</S>"]
    assert texts(reader.text_to_instance(["x y", "z"])) == ["<S>", "x y", "z", "</S>"]
    assert texts(reader.text_to_instance([])) == ["<S>", "</S>"]


def test_spacy_blank_tokenizer_splits_punctuation():
    tokenizer = SpacyBlankTokenizer()
    tokens = tokenizer.tokenize("Hello, world!")
    assert [token.text for token in tokens] == ["Hello", ",", "world", "!"]
    assert [token.idx for token in tokens] == [0, 5, 7, 12]
    assert [token.text for token in tokenizer.tokenize("  two   spaces\t\n")] == ["two", "spaces"]


def test_spacy_blank_tokenizer_takes_texts_longer_than_spacy_max_length():
    tokenizer = SpacyBlankTokenizer()
    tokenizer._nlp.max_length = 100  # 1,000,000 by default: smaller to keep the test fast
    assert len(tokenizer.tokenize("ab " * 1000)) == 1000  # spaCy's pipeline would refuse it


def test_reader_with_spacy_blank_from_params(tmp_path):
    params = Params({"type": "elmo_c_sentences", "tokenizer": {"type": "spacy_blank"}, "add_boundaries": False})
    reader = DatasetReader.from_params(params)
    instances = list(reader.read(str(write(tmp_path / "punct.txt", "Hello, world!\nIt's done.\n"))))
    assert [texts(instance) for instance in instances] == [["Hello", ",", "world", "!"], ["It", "'s", "done", "."]]
    tokenizer = Tokenizer.from_params(Params({"type": "spacy_blank", "language": "en"}))
    assert isinstance(tokenizer, SpacyBlankTokenizer)
    assert tokenizer._to_params() == {"type": "spacy_blank", "language": "en"}


def test_tensors_of_a_batch(tmp_path):
    instances = read(write(tmp_path / "two.txt", "a b c\nd\n"))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    lengths = [instance.get_padding_lengths()["source"] for instance in instances]
    assert [length["elmo_characters___elmo_tokens"] for length in lengths] == [5, 3]
    tensors = instances[1].as_tensor_dict({"source": lengths[0]})["source"]
    assert tensors["tokens"]["tokens"].tolist()[3:] == [0, 0]
    assert torch.equal(tensors["elmo_characters"]["elmo_tokens"][3:], torch.zeros(2, 50, dtype=torch.long))


def test_packed_windows_hold_exactly_window_size_tokens_with_boundaries(tmp_path):
    from elmo_c.data.dataset_readers import SentencesDatasetReader

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\nd e\nf g h i j k\n")
    instances = list(SentencesDatasetReader(window_size=4).read(str(corpus)))
    windows = [[token.text for token in instance["source"].tokens] for instance in instances]
    stream = ["<S>", "a", "b", "c", "</S>", "<S>", "d", "e", "</S>", "<S>", "f", "g", "h", "i", "j", "k", "</S>"]
    assert [token for window in windows for token in window] == stream
    assert [len(window) for window in windows] == [4, 4, 4, 4, 1]


def test_window_size_must_hold_a_prediction():
    from allennlp.common.checks import ConfigurationError

    from elmo_c.data.dataset_readers import SentencesDatasetReader

    with pytest.raises(ConfigurationError):
        SentencesDatasetReader(window_size=1)


def test_windows_cut_long_sentences_without_adding_boundaries(tmp_path):
    words = [f"w{i}" for i in range(25)]
    corpus = write(tmp_path / "long.txt", " ".join(words) + "\nshort\n")
    windows = [texts(instance) for instance in read(corpus, window_size=10, max_sequence_length=4)]
    stream = [token for window in windows for token in window]
    assert stream == ["<S>"] + words + ["</S>", "<S>", "short", "</S>"]
    assert [len(window) for window in windows] == [10, 10, 10]
