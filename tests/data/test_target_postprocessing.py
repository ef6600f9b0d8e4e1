import logging

import numpy
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.data import CountedVocabulary
from elmo_c.data.target_embeddings import NpyTargetEmbeddings
from elmo_c.data.target_embeddings.postprocessing import postprocess

WORDS = [f"w{i}" for i in range(40)]


def _table(seed=0, rows=40, dim=6):
    generator = numpy.random.default_rng(seed)
    # A strong common direction, as real word vectors have.
    return (generator.normal(size=(rows, dim)) + 4.0 * numpy.ones(dim)).astype(numpy.float32)


def test_normalised_centred_rows_have_a_zero_weighted_mean_and_unit_norm():
    matrix, rows = _table(), numpy.ones(40, dtype=bool)
    rows[3] = False
    weights = numpy.arange(40, dtype=numpy.float64) + 1.0
    processed = postprocess(matrix, rows, weights, normalize=True, centre="frequency")
    assert numpy.array_equal(processed[3], matrix[3])  # rows without a vector are left alone
    assert numpy.allclose(numpy.linalg.norm(processed[rows], axis=1), 1.0, atol=1e-6)
    # Before the final normalisation the weighted mean is zero; after it, far smaller than before.
    unnormalised = postprocess(matrix, rows, weights, normalize=False, centre="frequency")
    assert numpy.allclose(weights[rows] @ unnormalised[rows], 0.0, atol=1e-3)
    mean_cosine = lambda m: numpy.mean((m @ m.T)[numpy.triu_indices(len(m), 1)])
    unit = matrix[rows] / numpy.linalg.norm(matrix[rows], axis=1, keepdims=True)
    assert mean_cosine(unit) > 0.8 and abs(mean_cosine(processed[rows])) < 0.1


def test_uniform_centre_ignores_the_weights():
    matrix, rows = _table(), numpy.ones(40, dtype=bool)
    uniform = postprocess(matrix, rows, None, normalize=False, centre="uniform")
    assert numpy.allclose(uniform.mean(axis=0), 0.0, atol=1e-4)
    weighted = postprocess(matrix, rows, numpy.arange(40.0) + 1, normalize=False, centre="uniform")
    assert numpy.array_equal(uniform, weighted)


def test_removing_principal_directions_leaves_nothing_along_them():
    matrix, rows = _table(seed=1), numpy.ones(40, dtype=bool)
    centred = postprocess(matrix, rows, None, normalize=False, centre="uniform").astype(numpy.float64)
    top = numpy.linalg.eigh(centred.T @ centred)[1][:, -2:]
    stripped = postprocess(matrix, rows, None, normalize=False, centre="uniform", remove_principal_directions=2)
    assert numpy.allclose(stripped @ top, 0.0, atol=1e-4)
    assert not numpy.allclose(centred @ top, 0.0, atol=1e-2)


def _npy_targets(tmp_path, vocab, **options):
    numpy.save(tmp_path / "v.npy", _table())
    (tmp_path / "v.words.txt").write_text("\n".join(WORDS) + "\n")
    return NpyTargetEmbeddings(vocab, path=str(tmp_path / "v.npy"), embedding_dim=6, cache_dir=str(tmp_path / "c"),
                               **options)


def _counted_vocab(counts):
    vocab = CountedVocabulary(counter={"tokens": dict(zip(WORDS, counts))})
    return vocab


def test_target_embeddings_centre_on_the_vocabularys_training_counts(tmp_path):
    counts = list(range(100, 60, -1))
    vocab = _counted_vocab(counts)
    targets = _npy_targets(tmp_path, vocab, centre="frequency", normalize=True)
    rows, valid = targets.lookup(torch.arange(vocab.get_vocab_size("tokens")))
    assert not valid[:2].any() and valid[2:].all()
    # Undo the final normalisation's effect on the mean by checking the direction only:
    # the count-weighted mean of the rows is (close to) orthogonal to every row on average.
    weights = torch.tensor([0.0, 0.0] + [float(vocab.counts()[i]) for i in range(2, 42)])
    mean = (weights[:, None] * rows).sum(0) / weights.sum()
    assert mean.norm() < 0.2
    assert torch.allclose(rows[2:].norm(dim=1), torch.ones(40), atol=1e-5)


def test_frequency_centring_without_counts_warns_and_weighs_words_the_same(tmp_path, caplog):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(WORDS, "tokens")
    targets = _npy_targets(tmp_path, vocab, centre="frequency")
    with caplog.at_level(logging.WARNING):
        rows, _ = targets.lookup(torch.arange(2, 42))
    assert "lacks" in caplog.text
    assert torch.allclose(rows.mean(0), torch.zeros(6), atol=1e-4)


def test_each_setting_has_its_own_cache_entry(tmp_path):
    vocab = _counted_vocab(list(range(100, 60, -1)))
    ids = torch.arange(2, 42)
    raw = _npy_targets(tmp_path, vocab).lookup(ids)[0]
    centred = _npy_targets(tmp_path, vocab, centre="uniform").lookup(ids)[0]
    frequency = _npy_targets(tmp_path, vocab, centre="frequency").lookup(ids)[0]
    other_counts = _npy_targets(tmp_path, _counted_vocab(list(range(1, 41))), centre="frequency").lookup(ids)[0]
    assert torch.allclose(raw, torch.from_numpy(_table()))
    for first, second in [(raw, centred), (centred, frequency), (frequency, other_counts)]:
        assert not torch.allclose(first, second)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"centre": "median"}, "must be \"frequency\", \"uniform\" or null"),
        ({"centre": "uniform", "remove_principal_directions": 6}, "between 0 and embedding_dim - 1"),
        ({"remove_principal_directions": 1}, "needs centred vectors"),
        ({"centre": "uniform", "mask_missing": False}, "keep mask_missing=true"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path, options, message):
    vocab = Vocabulary()
    with pytest.raises(ConfigurationError, match=message):
        _npy_targets(tmp_path, vocab, **options)
