import gzip
import logging
import os
import shutil

import fasttext
import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.data.target_embeddings import (
    FastTextTargetEmbeddings,
    NpyTargetEmbeddings,
    TargetEmbeddings,
    TextTargetEmbeddings,
)
from elmo_c.data.target_embeddings.target_embeddings import EXACT, LOWERCASED, MISSING, SUBWORD

DIM = 16
UNSEEN = ["giraffe", "tractor", "zqxjv"]  # not in train.txt
MIXED_CASE = "The"  # not in train.txt; "the" is in every vector file
BOUNDARIES = ["<S>", "</S>"]

fasttext.FastText.eprint = lambda *args, **kwargs: None  # a deprecation notice on every load


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def targets_dir(fixtures_dir):
    return os.path.join(fixtures_dir, "targets")


@pytest.fixture(scope="module")
def train_words(fixtures_dir):
    with open(os.path.join(fixtures_dir, "lm", "train.txt"), encoding="utf-8") as corpus:
        return list(dict.fromkeys(corpus.read().split()))


@pytest.fixture(scope="module")
def vocab(train_words):
    return make_vocab(BOUNDARIES + train_words + UNSEEN + [MIXED_CASE])


@pytest.fixture(scope="module")
def fasttext_model(targets_dir):
    return fasttext.load_model(os.path.join(targets_dir, "fasttext.bin"))


def make_vocab(words):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list(words), "tokens")
    return vocab


def vocab_words(vocab):
    return [vocab.get_token_from_index(i, "tokens") for i in range(vocab.get_vocab_size("tokens"))]


def parse_text_vectors(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        lines = [line.rstrip().split(" ") for line in stream]
    if len(lines[0]) == 2:
        lines = lines[1:]
    return {fields[0]: numpy.array(fields[1:], dtype=numpy.float32) for fields in lines}


def cached_status(embeddings):
    """The per-row status stored in the cache entry of loaded `embeddings`."""
    cache_path = embeddings._cache_path(vocab_words(embeddings.vocab))
    return numpy.load(cache_path + ".status.npy")


def counts(status):
    return {name: int((status == code).sum()) for code, name in
            [(EXACT, "exact"), (SUBWORD, "subword"), (LOWERCASED, "lowercased"), (MISSING, "missing")]}


def all_rows(embeddings):
    ids = torch.arange(embeddings.num_rows)
    return embeddings.lookup(ids)


def text_embeddings(vocab, path, tmp_path, **kwargs):
    return TextTargetEmbeddings(vocab, path=str(path), embedding_dim=kwargs.pop("embedding_dim", DIM),
                                cache_dir=str(tmp_path / "cache"), **kwargs)


def write_vec(path, rows, header=True, dim=DIM):
    lines = [f"{len(rows)} {dim}\n"] if header else []
    lines += [f"{word} {' '.join(str(v) for v in values)}\n" for word, values in rows]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def random_rows(words, dim=DIM, seed=0):
    generator = numpy.random.default_rng(seed)
    return [(word, generator.normal(size=dim).round(4)) for word in words]


# -- each format aligns correctly ---------------------------------------------------------


def test_fasttext_rows_and_statuses(vocab, targets_dir, fasttext_model, train_words):
    targets = FastTextTargetEmbeddings(vocab, path=os.path.join(targets_dir, "fasttext.bin"), embedding_dim=DIM)
    rows, valid = all_rows(targets)
    index = vocab.get_token_index
    for word in train_words:
        numpy.testing.assert_allclose(rows[index(word)].numpy(), fasttext_model.get_word_vector(word), atol=1e-7)
    for word in UNSEEN + [MIXED_CASE]:  # out of FastText's dictionary: subword vectors
        assert word not in fasttext_model.words
        assert rows[index(word)].abs().sum() > 0
        numpy.testing.assert_allclose(rows[index(word)].numpy(), fasttext_model.get_word_vector(word), atol=1e-7)
    for word in BOUNDARIES:  # ELMo's boundaries take FastText's end-of-line vector
        numpy.testing.assert_allclose(rows[index(word)].numpy(), fasttext_model.get_word_vector("</s>"), atol=1e-7)
        assert not numpy.allclose(rows[index(word)].numpy(), fasttext_model.get_word_vector(word))
    status = cached_status(targets)
    assert status[index("cat")] == EXACT and status[index("giraffe")] == SUBWORD and status[index("<S>")] == EXACT
    assert counts(status) == {
        "exact": len(train_words) + 2, "subword": len(UNSEEN) + 1, "lowercased": 0, "missing": 2,
    }
    assert valid.tolist() == [False, False] + [True] * (vocab.get_vocab_size("tokens") - 2)
    assert not rows[:2].any()


def test_fasttext_without_aliases_gives_boundaries_subword_vectors(vocab, targets_dir, fasttext_model):
    targets = FastTextTargetEmbeddings(
        vocab, path=os.path.join(targets_dir, "fasttext.bin"), embedding_dim=DIM, aliases={}
    )
    rows, _ = all_rows(targets)
    numpy.testing.assert_allclose(
        rows[vocab.get_token_index("<S>")].numpy(), fasttext_model.get_word_vector("<S>"), atol=1e-7
    )
    assert cached_status(targets)[vocab.get_token_index("<S>")] == SUBWORD


@pytest.mark.parametrize("file_name", ["vectors.vec", "glove.txt.gz"])
def test_text_rows_and_statuses(vocab, targets_dir, file_name, tmp_path):
    path = os.path.join(targets_dir, file_name)
    expected = parse_text_vectors(path)
    targets = text_embeddings(vocab, path, tmp_path)
    rows, valid = all_rows(targets)
    status = cached_status(targets)
    words = vocab_words(vocab)
    exact = [w for w in words[2:] if w in expected]
    lowercased = [w for w in words[2:] if w not in expected and w.lower() in expected]
    assert MIXED_CASE in lowercased and 0 < len(exact) < len(words) - 2
    assert counts(status) == {
        "exact": len(exact), "subword": 0, "lowercased": len(lowercased),
        "missing": len(words) - len(exact) - len(lowercased),
    }
    for word in exact:
        numpy.testing.assert_array_equal(rows[vocab.get_token_index(word)].numpy(), expected[word])
        assert valid[vocab.get_token_index(word)]
    numpy.testing.assert_array_equal(rows[vocab.get_token_index(MIXED_CASE)].numpy(), expected["the"])
    for i, word in enumerate(words):
        if word not in expected and word.lower() not in expected:
            assert not valid[i] and not rows[i].any(), word
    assert not valid[:2].any()


def test_text_without_lowercase_fallback(vocab, targets_dir, tmp_path):
    targets = text_embeddings(vocab, os.path.join(targets_dir, "vectors.vec"), tmp_path, lowercase_fallback=False)
    _, valid = all_rows(targets)
    assert not valid[vocab.get_token_index(MIXED_CASE)]
    assert counts(cached_status(targets))["lowercased"] == 0


def test_npy_matches_the_vec_file(vocab, targets_dir, tmp_path):
    from_npy = NpyTargetEmbeddings(vocab, path=os.path.join(targets_dir, "vectors.npy"), embedding_dim=DIM)
    from_vec = text_embeddings(vocab, os.path.join(targets_dir, "vectors.vec"), tmp_path)
    npy_rows, npy_valid = all_rows(from_npy)
    vec_rows, vec_valid = all_rows(from_vec)
    assert torch.equal(npy_rows, vec_rows)
    assert torch.equal(npy_valid, vec_valid)
    assert numpy.array_equal(cached_status(from_npy), cached_status(from_vec))
    matrix = numpy.load(os.path.join(targets_dir, "vectors.npy"))
    with open(os.path.join(targets_dir, "vectors.words.txt"), encoding="utf-8") as words_file:
        first_word = words_file.readline().rstrip("\n")
    numpy.testing.assert_array_equal(npy_rows[vocab.get_token_index(first_word)].numpy(), matrix[0])


def boundary_table_targets(kind, directory, **kwargs):
    """A `kind` table of "</s>", "the" and "cat" (no sentence boundaries) for a vocabulary with both."""
    from elmo_c.data.target_embeddings import CompressedTargetEmbeddings
    from elmo_c.data.target_embeddings.compressed import write_compressed_targets

    words, matrix = ["</s>", "the", "cat"], numpy.arange(1, 10, dtype=numpy.float32).reshape(3, 3)
    vocab = make_vocab(BOUNDARIES + ["the", "cat", "dog"])
    options = dict(embedding_dim=3, cache_dir=str(directory / "cache"), **kwargs)
    if kind == "text":
        path = write_vec(directory / "v.vec", list(zip(words, matrix)), dim=3)
        return vocab, matrix, TextTargetEmbeddings(vocab, path=str(path), **options)
    if kind == "npy":
        numpy.save(directory / "v.npy", matrix)
        (directory / "v.words.txt").write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
        return vocab, matrix, NpyTargetEmbeddings(vocab, path=str(directory / "v.npy"), **options)
    arrays = {"codes": numpy.zeros((0, 3), numpy.float16), "basis": numpy.eye(3, dtype=numpy.float32),
              "mean": numpy.zeros(3, numpy.float32), "exact": matrix}
    write_compressed_targets(str(directory / "v.ctt"), "svd", words, 3, arrays, {})
    return vocab, matrix, CompressedTargetEmbeddings(vocab, path=str(directory / "v.ctt"), **options)


@pytest.mark.parametrize("kind", ["text", "npy", "compressed"])
def test_sentence_boundaries_take_the_end_of_line_vector_in_every_format(kind, tmp_path):
    vocab, matrix, targets = boundary_table_targets(kind, tmp_path)
    rows, valid = all_rows(targets)
    for boundary in BOUNDARIES:
        numpy.testing.assert_array_equal(rows[vocab.get_token_index(boundary)].numpy(), matrix[0])
        assert valid[vocab.get_token_index(boundary)]
    assert not valid[vocab.get_token_index("dog")]
    (tmp_path / "none").mkdir()
    _, _, without = boundary_table_targets(kind, tmp_path / "none", aliases={})
    _, valid = all_rows(without)
    assert not valid[vocab.get_token_index("<S>")]  # ("</S>" lowercased is "</s>")


def test_npy_words_with_unicode_line_separators(tmp_path):
    # str.splitlines() would split these words and misalign every later row.
    words = ["a\u2028b", "c\x85d", "e\x0cf", "plain"]
    matrix = numpy.arange(4 * 3, dtype=numpy.float32).reshape(4, 3) + 1
    numpy.save(tmp_path / "odd.npy", matrix)
    (tmp_path / "odd.words.txt").write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    vocab = make_vocab(words)
    targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / "odd.npy"), embedding_dim=3)
    rows, valid = all_rows(targets)
    for row, word in enumerate(words):
        numpy.testing.assert_array_equal(rows[vocab.get_token_index(word)].numpy(), matrix[row])
    assert valid[2:].all()


def test_construction_by_name_from_params(vocab, targets_dir):
    params = Params({"type": "text", "path": os.path.join(targets_dir, "vectors.vec"), "embedding_dim": DIM})
    targets = TargetEmbeddings.from_params(params, vocab=vocab)
    assert isinstance(targets, TextTargetEmbeddings)
    params = Params({"type": "npy", "path": os.path.join(targets_dir, "vectors.npy"), "embedding_dim": DIM})
    assert isinstance(TargetEmbeddings.from_params(params, vocab=vocab), NpyTargetEmbeddings)
    params = Params({"type": "fasttext", "path": os.path.join(targets_dir, "fasttext.bin"), "embedding_dim": DIM})
    assert isinstance(TargetEmbeddings.from_params(params, vocab=vocab), FastTextTargetEmbeddings)


def test_nothing_is_read_before_first_use(vocab, tmp_path):
    targets = text_embeddings(vocab, tmp_path / "absent.vec", tmp_path)
    assert targets._matrix is None
    with pytest.raises(ConfigurationError, match="absent.vec"):
        targets.lookup(torch.tensor([2]))


# -- options and the public interface -----------------------------------------------------


def test_mask_missing_false_gives_the_mean_vector(vocab, targets_dir, tmp_path):
    path = os.path.join(targets_dir, "vectors.vec")
    masked_rows, masked_valid = all_rows(text_embeddings(vocab, path, tmp_path))
    rows, valid = all_rows(text_embeddings(vocab, path, tmp_path, mask_missing=False))
    missing = ~masked_valid
    missing[:2] = False
    assert missing.any()
    mean = masked_rows[masked_valid].mean(dim=0)
    torch.testing.assert_close(rows[missing], mean.expand(int(missing.sum()), DIM))
    assert torch.equal(rows[masked_valid], masked_rows[masked_valid])
    assert valid[2:].all() and not valid[:2].any()


def test_float16_storage(vocab, targets_dir, tmp_path):
    path = os.path.join(targets_dir, "vectors.vec")
    full = text_embeddings(vocab, path, tmp_path)
    half = text_embeddings(vocab, path, tmp_path, dtype="float16")
    full_rows, full_valid = all_rows(full)
    half_rows, half_valid = all_rows(half)
    assert full._matrix.dtype == numpy.float32 and half._matrix.dtype == numpy.float16
    assert half_rows.dtype == torch.float32
    torch.testing.assert_close(half_rows, full_rows, atol=1e-5, rtol=1e-3)
    assert torch.equal(half_valid, full_valid)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_float16_overflow_is_an_error(tmp_path):
    path = write_vec(tmp_path / "large.vec", [("big", [1e6] + [0.5] * (DIM - 1))])
    with pytest.raises(ConfigurationError, match="large.vec.*float16"):
        text_embeddings(make_vocab(["big"]), path, tmp_path, dtype="float16").load()


def test_invalid_options(vocab, targets_dir):
    path = os.path.join(targets_dir, "vectors.vec")
    with pytest.raises(ConfigurationError, match="dtype"):
        TextTargetEmbeddings(vocab, path=path, embedding_dim=DIM, dtype="float64")
    with pytest.raises(ConfigurationError, match="embedding_dim"):
        TextTargetEmbeddings(vocab, path=path, embedding_dim=0)


@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_lookup_shapes(vocab, targets_dir, shape):
    targets = NpyTargetEmbeddings(vocab, path=os.path.join(targets_dir, "vectors.npy"), embedding_dim=DIM)
    ids = torch.randint(0, vocab.get_vocab_size("tokens"), shape, generator=torch.Generator().manual_seed(0))
    rows, valid = targets.lookup(ids)
    assert rows.shape == shape + (DIM,) and rows.dtype == torch.float32
    assert valid.shape == shape and valid.dtype == torch.bool
    all_table, all_valid = all_rows(targets)
    assert torch.equal(rows.reshape(-1, DIM), all_table[ids.reshape(-1)])
    assert torch.equal(valid.reshape(-1), all_valid[ids.reshape(-1)])


@pytest.mark.parametrize("chunk_size", [1, 50, 1000])
def test_unit_chunks_cover_the_table(vocab, targets_dir, chunk_size):
    targets = FastTextTargetEmbeddings(vocab, path=os.path.join(targets_dir, "fasttext.bin"), embedding_dim=DIM)
    chunks = list(targets.unit_chunks(chunk_size, torch.device("cpu")))
    assert len(chunks) == -(-targets.num_rows // chunk_size)
    unit = torch.cat([chunk for chunk, _ in chunks])
    valid = torch.cat([mask for _, mask in chunks])
    rows, expected_valid = all_rows(targets)
    assert unit.shape == (targets.num_rows, DIM) and unit.dtype == torch.float32
    assert torch.equal(valid, expected_valid)
    torch.testing.assert_close(unit[valid].norm(dim=-1), torch.ones(int(valid.sum())))
    torch.testing.assert_close(unit[valid], rows[valid] / rows[valid].norm(dim=-1, keepdim=True))


def test_the_table_is_not_a_module_or_parameter(vocab, targets_dir):
    targets = NpyTargetEmbeddings(vocab, path=os.path.join(targets_dir, "vectors.npy"), embedding_dim=DIM)
    targets.load()
    assert not isinstance(targets, torch.nn.Module)
    assert not any(isinstance(value, (torch.nn.Module, torch.Tensor)) for value in vars(targets).values())
    holder = torch.nn.Module()
    holder.targets = targets
    assert holder.state_dict() == {} and list(holder.parameters()) == []


# -- caching ------------------------------------------------------------------------------


def test_second_load_reads_the_cache(vocab, targets_dir, tmp_path, monkeypatch):
    path = os.path.join(targets_dir, "vectors.vec")
    first_rows, first_valid = all_rows(text_embeddings(vocab, path, tmp_path))

    def fail(self, words):
        raise AssertionError("the vector file was read again")

    monkeypatch.setattr(TextTargetEmbeddings, "_read_vectors", fail)
    second = text_embeddings(vocab, path, tmp_path)
    rows, valid = all_rows(second)
    assert torch.equal(rows, first_rows) and torch.equal(valid, first_valid)
    assert isinstance(second._matrix, numpy.memmap)  # memory-mapped from the cache


def test_without_memory_map_the_table_is_read_into_memory(vocab, targets_dir, tmp_path):
    path = os.path.join(targets_dir, "vectors.vec")
    mapped_rows, _ = all_rows(text_embeddings(vocab, path, tmp_path))
    in_memory = text_embeddings(vocab, path, tmp_path, memory_map=False)
    rows, _ = all_rows(in_memory)
    assert not isinstance(in_memory._matrix, numpy.memmap) and in_memory._matrix.flags.writeable
    assert torch.equal(rows, mapped_rows)


def test_default_cache_dir_is_the_session_directory(vocab, targets_dir, elmo_c_cache):
    targets = NpyTargetEmbeddings(vocab, path=os.path.join(targets_dir, "vectors.npy"), embedding_dim=DIM)
    targets.load()
    assert targets.cache_dir == elmo_c_cache
    assert any(name.startswith("vectors.npy.") for name in os.listdir(elmo_c_cache))


def test_the_cache_follows_the_vocabulary_and_the_file(targets_dir, tmp_path, monkeypatch):
    path = tmp_path / "copy.vec"
    shutil.copy(os.path.join(targets_dir, "vectors.vec"), path)
    text_embeddings(make_vocab(["the", "cat"]), path, tmp_path).load()
    calls = []
    original = TextTargetEmbeddings._read_vectors
    monkeypatch.setattr(TextTargetEmbeddings, "_read_vectors",
                        lambda self, words: calls.append(1) or original(self, words))
    text_embeddings(make_vocab(["the", "dog"]), path, tmp_path).load()  # another vocabulary
    assert len(calls) == 1
    text_embeddings(make_vocab(["the", "cat"]), path, tmp_path, mask_missing=False).load()  # another option
    assert len(calls) == 2
    os.utime(path, ns=(0, 10**18))  # the file changed
    text_embeddings(make_vocab(["the", "cat"]), path, tmp_path).load()
    assert len(calls) == 3
    text_embeddings(make_vocab(["the", "cat"]), path, tmp_path).load()
    assert len(calls) == 3


@pytest.mark.parametrize("suffix, keep", [(".npy", 0), (".npy", 100), (".npy", -1), (".status.npy", 0),
                                          (".status.npy", -3)])
def test_a_corrupt_cache_is_rebuilt(vocab, targets_dir, tmp_path, suffix, keep):
    path = os.path.join(targets_dir, "vectors.vec")
    good = text_embeddings(vocab, path, tmp_path)
    good_rows, good_valid = all_rows(good)
    cache_file = good._cache_path(vocab_words(vocab)) + suffix
    size = os.path.getsize(cache_file)
    with open(cache_file, "r+b") as stream:
        stream.truncate(keep % size if keep else 0)
    rows, valid = all_rows(text_embeddings(vocab, path, tmp_path))
    assert torch.equal(rows, good_rows) and torch.equal(valid, good_valid)
    assert os.path.getsize(cache_file) == size


def test_cache_files_are_written_atomically(vocab, targets_dir, tmp_path, monkeypatch):
    path = os.path.join(targets_dir, "vectors.vec")
    targets = text_embeddings(vocab, path, tmp_path)
    targets.load()
    cache_dir = tmp_path / "cache"
    names = sorted(os.listdir(cache_dir))
    assert len(names) == 2 and all(not name.startswith(".tmp") for name in names)
    assert [name[len(names[0]) - 4:] for name in names] == [".npy", ".status.npy"]

    saved = []

    def interrupted_save(stream, array):
        if saved:
            raise KeyboardInterrupt
        saved.append(array)
        stream.write(b"partial")

    monkeypatch.setattr(numpy, "save", interrupted_save)
    other = text_embeddings(vocab, path, tmp_path, dtype="float16")
    with pytest.raises(KeyboardInterrupt):
        other.load()
    monkeypatch.undo()
    # The matrix was replaced, the status file (which marks a complete entry) never written.
    assert sorted(os.listdir(cache_dir)) == sorted(names + [os.path.basename(other._cache_path(vocab_words(vocab)))
                                                           + ".npy"])
    rows, _ = all_rows(text_embeddings(vocab, path, tmp_path, dtype="float16"))
    assert rows.abs().sum() > 0
    assert not [name for name in os.listdir(cache_dir) if ".tmp" in name]


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fasttext", "vec", "gz", "npy", "npy-words"])
def test_a_missing_file_names_it(vocab, targets_dir, tmp_path, kind):
    if kind == "fasttext":
        targets = FastTextTargetEmbeddings(vocab, path=str(tmp_path / "nothing.bin"), embedding_dim=DIM)
    elif kind in ("vec", "gz"):
        targets = text_embeddings(vocab, tmp_path / f"nothing.{kind}", tmp_path)
    elif kind == "npy":
        targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / "nothing.npy"), embedding_dim=DIM)
    else:
        targets = NpyTargetEmbeddings(vocab, path=os.path.join(targets_dir, "vectors.npy"),
                                      words_path=str(tmp_path / "nothing.txt"), embedding_dim=DIM)
    with pytest.raises(ConfigurationError, match=r"nothing\.[a-z]+ (for .*)?does not exist"):
        targets.load()


def test_a_truncated_vec_is_an_error(vocab, targets_dir, tmp_path):
    with open(os.path.join(targets_dir, "vectors.vec"), encoding="utf-8") as stream:
        lines = stream.readlines()
    path = tmp_path / "short.vec"
    path.write_text("".join(lines[:100]), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="short.vec ends after 99 vectors but its header announces 211"):
        text_embeddings(vocab, path, tmp_path).load()


def test_a_line_cut_short_names_the_line(vocab, targets_dir, tmp_path):
    with open(os.path.join(targets_dir, "vectors.vec"), encoding="utf-8") as stream:
        text = stream.read()
    path = tmp_path / "cut.vec"
    path.write_text(text[: text.index("\n", 2000) - 40], encoding="utf-8")
    line_number = path.read_text(encoding="utf-8").count("\n") + 1
    with pytest.raises(ConfigurationError, match=f"cut.vec, line {line_number}, has [0-9]+-dimensional"):
        text_embeddings(vocab, path, tmp_path).load()


def test_a_non_numeric_value_names_the_line(tmp_path):
    rows = random_rows(["the", "cat", "dog"])
    path = write_vec(tmp_path / "garbled.vec", rows)
    path.write_text(path.read_text().replace(str(rows[1][1][3]), "0.1x2", 1))
    with pytest.raises(ConfigurationError, match="garbled.vec, line 3, has a value that is not a number"):
        text_embeddings(make_vocab(["the", "cat"]), path, tmp_path).load()


def test_a_truncated_gzip_file_is_an_error(vocab, targets_dir, tmp_path):
    data = open(os.path.join(targets_dir, "glove.txt.gz"), "rb").read()
    (tmp_path / "cut.txt.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigurationError, match="cut.txt.gz.*truncated"):
        text_embeddings(vocab, tmp_path / "cut.txt.gz", tmp_path).load()
    shutil.copy(os.path.join(targets_dir, "vectors.vec"), tmp_path / "plain.vec.gz")
    with pytest.raises(ConfigurationError, match="plain.vec.gz.*gzip"):
        text_embeddings(vocab, tmp_path / "plain.vec.gz", tmp_path).load()


@pytest.mark.parametrize("file_name, line", [("vectors.vec", 1), ("glove.txt.gz", 1)])
def test_text_dimension_mismatch(vocab, targets_dir, tmp_path, file_name, line):
    path = os.path.join(targets_dir, file_name)
    with pytest.raises(ConfigurationError, match=f"{file_name}, line {line}, has 16-dimensional.*embedding_dim=8"):
        text_embeddings(vocab, path, tmp_path, embedding_dim=8).load()


@pytest.mark.parametrize("file_name", ["vectors.npy", "fasttext.bin"])
def test_binary_dimension_mismatch(vocab, targets_dir, file_name):
    path = os.path.join(targets_dir, file_name)
    cls = NpyTargetEmbeddings if file_name.endswith(".npy") else FastTextTargetEmbeddings
    with pytest.raises(ConfigurationError, match=f"{file_name} gave vectors of shape.*embedding_dim=8.*to 16"):
        cls(vocab, path=path, embedding_dim=8).load()


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write_vec(tmp_path / "latin1.vec", random_rows(["the", "cat", "dog"]))
    path.write_bytes(path.read_bytes().replace(b"cat", b"c\xe9t"))
    with pytest.raises(ConfigurationError, match="latin1.vec, line 3, is not valid UTF-8"):
        text_embeddings(make_vocab(["the", "cat"]), path, tmp_path).load()


@pytest.mark.parametrize("bad_value", ["nan", "inf", "-inf"])
def test_non_finite_values_are_an_error(tmp_path, bad_value):
    rows = random_rows(["the", "cat", "dog"])
    rows[1][1][5] = float(bad_value)
    vocab = make_vocab(["the", "cat"])
    path = write_vec(tmp_path / "bad.vec", rows)
    with pytest.raises(ConfigurationError, match="bad.vec has NaN or infinite values in 1 vectors.*'cat'"):
        text_embeddings(vocab, path, tmp_path).load()
    numpy.save(tmp_path / "bad.npy", numpy.stack([values for _, values in rows]).astype(numpy.float32))
    (tmp_path / "bad.words.txt").write_text("the\ncat\ndog\n")
    with pytest.raises(ConfigurationError, match="bad.npy has NaN or infinite values"):
        NpyTargetEmbeddings(vocab, path=str(tmp_path / "bad.npy"), embedding_dim=DIM).load()


def test_non_finite_values_of_unused_words_are_ignored(tmp_path):
    rows = random_rows(["the", "cat", "dog"])
    rows[2][1][0] = float("nan")
    rows_out, valid = all_rows(text_embeddings(make_vocab(["the", "cat"]), write_vec(tmp_path / "v.vec", rows),
                                               tmp_path))
    assert valid[2:].all() and torch.isfinite(rows_out).all()


@pytest.mark.parametrize("file_name", ["vectors.vec", "glove.txt.gz", "vectors.npy"])
def test_a_file_that_is_not_fasttext(vocab, targets_dir, file_name):
    targets = FastTextTargetEmbeddings(vocab, path=os.path.join(targets_dir, file_name), embedding_dim=DIM)
    with pytest.raises(ConfigurationError, match=f"{file_name} is not a FastText .bin model"):
        targets.load()


# fastText's own loader, given these truncated copies, dies of SIGFPE (8, 20 bytes),
# loops forever reading the dictionary (100, 1000 bytes) or silently loads garbage
# (any cut inside the matrices).
@pytest.mark.parametrize("size", [4, 8, 20, 100, 1000, 4031, 5000, 100000, 150000, -1])
def test_a_truncated_fasttext_model_is_an_error(vocab, targets_dir, tmp_path, size):
    data = open(os.path.join(targets_dir, "fasttext.bin"), "rb").read()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[:size])
    message = "is not a FastText .bin model" if 0 <= size < 8 else "is truncated or corrupt"
    with pytest.raises(ConfigurationError, match=f"cut.bin {message}"):
        FastTextTargetEmbeddings(vocab, path=str(path), embedding_dim=DIM).load()


def test_extra_bytes_after_a_fasttext_model_are_tolerated(targets_dir, fasttext_model, tmp_path, caplog):
    path = tmp_path / "padded.bin"
    path.write_bytes(open(os.path.join(targets_dir, "fasttext.bin"), "rb").read() + b"\0" * 10)
    targets = FastTextTargetEmbeddings(make_vocab(["cat"]), path=str(path), embedding_dim=DIM)
    with caplog.at_level(logging.WARNING):
        rows, _ = targets.lookup(torch.tensor([2]))
    assert "10 bytes after the end" in caplog.text
    numpy.testing.assert_allclose(rows[0].numpy(), fasttext_model.get_word_vector("cat"), atol=1e-7)


@pytest.mark.parametrize("file_name", ["vectors.vec", "glove.txt.gz", "vectors.npy"])
def test_zero_coverage_is_an_error(targets_dir, tmp_path, file_name):
    vocab = make_vocab(["qqqq", "Wwww", "zzzz"])
    path = os.path.join(targets_dir, file_name)
    if file_name.endswith(".npy"):
        targets = NpyTargetEmbeddings(vocab, path=path, embedding_dim=DIM)
    else:
        targets = text_embeddings(vocab, path, tmp_path)
    with pytest.raises(ConfigurationError, match=f"None of the 5 words .* has a vector in .*{file_name}"):
        targets.load()


def test_npy_words_file_with_the_wrong_line_count(targets_dir, tmp_path, vocab):
    with open(os.path.join(targets_dir, "vectors.words.txt"), encoding="utf-8") as stream:
        words = stream.read().split("\n")[:-1]
    short = tmp_path / "short.words.txt"
    short.write_text("\n".join(words[:-1]) + "\n", encoding="utf-8")
    targets = NpyTargetEmbeddings(
        vocab, path=os.path.join(targets_dir, "vectors.npy"), words_path=str(short), embedding_dim=DIM
    )
    with pytest.raises(ConfigurationError, match="short.words.txt lists 210 words but .*vectors.npy has 211 rows"):
        targets.load()


@pytest.mark.parametrize("keep", [0, 50, 1000])
def test_a_truncated_npy_is_an_error(targets_dir, tmp_path, vocab, keep):
    (tmp_path / "cut.npy").write_bytes(open(os.path.join(targets_dir, "vectors.npy"), "rb").read()[:keep])
    shutil.copy(os.path.join(targets_dir, "vectors.words.txt"), tmp_path / "cut.words.txt")
    with pytest.raises(ConfigurationError, match="cut.npy is not a readable .npy matrix"):
        NpyTargetEmbeddings(vocab, path=str(tmp_path / "cut.npy"), embedding_dim=DIM).load()


def test_all_zero_rows_are_masked_with_a_warning(tmp_path, caplog):
    rows = random_rows(["the", "cat", "dog"])
    rows[1] = ("cat", numpy.zeros(DIM))
    vocab = make_vocab(["the", "cat", "dog"])
    with caplog.at_level(logging.WARNING):
        table, valid = all_rows(text_embeddings(vocab, write_vec(tmp_path / "z.vec", rows), tmp_path))
    assert "1 words have an all-zero vector" in caplog.text and "'cat'" in caplog.text
    assert valid.tolist() == [False, False, True, False, True]
    assert cached_status(text_embeddings(vocab, tmp_path / "z.vec", tmp_path))[3] == MISSING
    numpy.testing.assert_allclose(table[4].numpy(), rows[2][1], rtol=1e-6)


def test_duplicate_words_use_the_first_vector(tmp_path, caplog):
    rows = random_rows(["the", "cat", "the"])
    with caplog.at_level(logging.WARNING):
        table, _ = all_rows(text_embeddings(make_vocab(["the"]), write_vec(tmp_path / "d.vec", rows), tmp_path))
    numpy.testing.assert_allclose(table[2].numpy(), rows[0][1], rtol=1e-6)
    assert "1 duplicate words" in caplog.text


def test_an_empty_file_holds_no_vectors(vocab, tmp_path):
    (tmp_path / "empty.vec").write_text("")
    with pytest.raises(ConfigurationError, match="empty.vec holds no vectors"):
        text_embeddings(vocab, tmp_path / "empty.vec", tmp_path).load()


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    from allennlp.data import Vocabulary

    from elmo_c.data.target_embeddings import TextTargetEmbeddings

    path = tmp_path / "bom.vec"
    path.write_bytes("\ufeff2 3\nalpha 1 2 3\nbeta 4 5 6\n".encode("utf-8"))
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["alpha", "beta"], "tokens")
    targets = TextTargetEmbeddings(vocab, path=str(path), embedding_dim=3, cache_dir=str(tmp_path))
    rows, valid = targets.lookup(torch.tensor([vocab.get_token_index("beta", "tokens")]))
    assert rows.tolist() == [[4.0, 5.0, 6.0]] and valid.tolist() == [True]


# -- the table on a device --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_device_resident_table_gives_the_rows_of_the_host_table(vocab, targets_dir, tmp_path, dtype):
    path = os.path.join(targets_dir, "vectors.vec")
    on_host = text_embeddings(vocab, path, tmp_path, dtype=dtype)
    resident = text_embeddings(vocab, path, tmp_path, dtype=dtype, device_resident=True)
    ids = torch.randint(0, vocab.get_vocab_size("tokens"), (3, 7), generator=torch.Generator().manual_seed(0))
    rows, valid = resident.lookup(ids)
    expected_rows, expected_valid = on_host.lookup(ids)
    assert rows.dtype == torch.float32 and torch.equal(rows, expected_rows) and torch.equal(valid, expected_valid)
    # On the CPU "device resident" is a tensor of the whole table in memory, in the table's dtype.
    table = resident._device_tables[torch.device("cpu")]
    assert table.dtype == getattr(torch, dtype) and table.shape == (resident.num_rows, DIM)
    for (unit, mask), (expected_unit, expected_mask) in zip(
        resident.unit_chunks(50, torch.device("cpu")), on_host.unit_chunks(50, torch.device("cpu"))
    ):
        assert torch.equal(unit, expected_unit) and torch.equal(mask, expected_mask)


def test_device_resident_from_params(vocab, targets_dir):
    params = Params({"type": "npy", "path": os.path.join(targets_dir, "vectors.npy"), "embedding_dim": DIM,
                     "device_resident": True})
    targets = TargetEmbeddings.from_params(params, vocab=vocab)
    assert targets.device_resident
    rows, valid = targets.lookup(torch.tensor([0, 2, 3]))
    assert not valid[0] and rows.shape == (3, DIM)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("device_resident", [False, True])
def test_lookups_of_gpu_ids(vocab, targets_dir, tmp_path, device_resident):
    path = os.path.join(targets_dir, "vectors.vec")
    targets = text_embeddings(vocab, path, tmp_path, dtype="float16", device_resident=device_resident)
    ids = torch.randint(0, vocab.get_vocab_size("tokens"), (4, 5), generator=torch.Generator().manual_seed(0))
    expected_rows, expected_valid = targets.lookup(ids)
    rows, valid = targets.lookup(ids.cuda())
    assert rows.device.type == valid.device.type == "cuda"
    assert torch.equal(rows.cpu(), expected_rows) and torch.equal(valid.cpu(), expected_valid)
    if device_resident:  # a pure gather on the device: the host never waits
        gpu_ids = ids.cuda()
        torch.cuda.set_sync_debug_mode("error")
        try:
            targets.lookup(gpu_ids)
        finally:
            torch.cuda.set_sync_debug_mode("default")
