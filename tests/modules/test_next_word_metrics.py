import numpy
import pytest
import torch

from elmo_c.data import CountedVocabulary
from elmo_c.data.target_embeddings import NpyTargetEmbeddings
from elmo_c.modules.next_word_metrics import measured_words, unigram_ranks
from elmo_c.modules.output_layers import ContinuousOutputLayer, SampledSoftmaxOutputLayer, SoftmaxOutputLayer

# Counts decrease with the index, as Vocabulary.from_instances orders words.
COUNTS = {"the": 50, "<S>": 40, "</S>": 40, "cat": 30, "sat": 20, "mat": 10, "dog": 5}


@pytest.fixture
def vocab():
    return CountedVocabulary(counter={"tokens": COUNTS})


def _ids(vocab, words):
    return torch.tensor([vocab.get_token_index(word, "tokens") for word in words])


def test_boundaries_padding_and_oov_are_neither_measured_nor_ranked(vocab):
    measured = measured_words(vocab)
    names = [vocab.get_token_from_index(i) for i in numpy.flatnonzero(~measured)]
    assert sorted(names) == sorted(["@@PADDING@@", "@@UNKNOWN@@", "<S>", "</S>"])
    ranks = unigram_ranks(vocab.counts(), measured)
    assert [int(ranks[vocab.get_token_index(word)]) for word in ["the", "cat", "sat", "mat", "dog"]] == [0, 1, 2, 3, 4]


@pytest.fixture
def continuous(vocab, tmp_path):
    words = list(COUNTS)
    vectors = numpy.eye(len(words), 8, dtype=numpy.float32) + 0.5  # a common direction, as real vectors
    numpy.save(tmp_path / "v.npy", vectors)
    (tmp_path / "v.words.txt").write_text("\n".join(words) + "\n")
    targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / "v.npy"), embedding_dim=8, cache_dir=str(tmp_path))
    layer = ContinuousOutputLayer(8, targets, top_k=[1, 2], neighbour_chunk_size=3)
    with torch.no_grad():
        for projection in layer.heads:
            projection.weight.copy_(torch.eye(8))
            projection.bias.zero_()
    return layer.eval()


def test_the_constant_baseline_is_the_frequency_weighted_mean_direction(continuous, vocab):
    words = ["cat", "dog", "sat", "</S>"]
    ids = _ids(vocab, words)
    vectors, _ = continuous.target_embeddings.lookup(ids)
    continuous(torch.randn(4, 8), ids, direction=0)
    metrics = continuous.get_metrics(reset=True)
    measured = ["the", "cat", "sat", "mat", "dog"]
    table, _ = continuous.target_embeddings.lookup(_ids(vocab, measured))
    weights = torch.tensor([float(COUNTS[word]) for word in measured])
    direction = torch.nn.functional.normalize((weights[:, None] * torch.nn.functional.normalize(table, dim=1)).sum(0), dim=0)
    expected = (torch.nn.functional.normalize(vectors[:3], dim=1) @ direction).mean()  # "</S>" is not measured
    assert metrics["constant_cosine"] == pytest.approx(float(expected), abs=1e-6)
    assert metrics["cosine_gain"] == pytest.approx(metrics["cosine"] - metrics["constant_cosine"])


def test_boundaries_count_in_the_loss_but_not_in_the_metrics(continuous, vocab):
    ids = _ids(vocab, ["cat", "</S>"])
    vectors, _ = continuous.target_embeddings.lookup(ids)
    perfect_cat_wrong_boundary = torch.stack([vectors[0], -vectors[1]])
    loss, count = continuous(perfect_cat_wrong_boundary, ids, direction=0)
    assert count.item() == 2 and loss.item() > 1.0
    metrics = continuous.get_metrics(reset=True)
    assert metrics["cosine"] == pytest.approx(1.0) and metrics["top1_accuracy"] == 1.0
    continuous.boundaries_in_loss = False
    loss, count = continuous(perfect_cat_wrong_boundary, ids, direction=0)
    assert count.item() == 1 and loss.item() == pytest.approx(0.0, abs=1e-6)


def test_a_boundary_is_never_a_nearer_neighbour(continuous, vocab):
    ids = _ids(vocab, ["cat"])
    boundary, _ = continuous.target_embeddings.lookup(_ids(vocab, ["<S>"]))
    cat, _ = continuous.target_embeddings.lookup(ids)
    continuous(boundary + 0.1 * cat, ids, direction=1)  # "<S>" is nearest, "cat" next
    assert continuous.get_metrics(reset=True)["top1_accuracy"] == 1.0


def test_unigram_accuracy_is_measured_on_the_same_positions(continuous, vocab):
    ids = _ids(vocab, ["the", "cat", "dog", "<S>"])
    continuous(torch.randn(4, 8), ids, direction=0)
    metrics = continuous.get_metrics(reset=True)
    assert metrics["unigram_top1_accuracy"] == pytest.approx(1 / 3)  # "the" of the, cat, dog
    assert metrics["unigram_top2_accuracy"] == pytest.approx(2 / 3)


def test_without_counts_there_are_no_baselines(tmp_path):
    from allennlp.data import Vocabulary

    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list(COUNTS), "tokens")
    numpy.save(tmp_path / "v.npy", numpy.eye(len(COUNTS), 8, dtype=numpy.float32))
    (tmp_path / "v.words.txt").write_text("\n".join(COUNTS) + "\n")
    targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / "v.npy"), embedding_dim=8, cache_dir=str(tmp_path))
    layer = ContinuousOutputLayer(8, targets).eval()
    layer(torch.randn(2, 8), _ids(vocab, ["cat", "dog"]), direction=0)
    metrics = layer.get_metrics(reset=True)
    assert "top1_accuracy" in metrics
    assert not {"constant_cosine", "cosine_gain", "unigram_top1_accuracy"} & set(metrics)


@pytest.mark.parametrize("layer_type", [SoftmaxOutputLayer, SampledSoftmaxOutputLayer])
def test_softmax_layers_rank_words_by_probability(vocab, layer_type):
    layer = layer_type(input_dim=8, vocab=vocab).eval()
    ids = _ids(vocab, ["cat", "dog", "the", "</S>"])
    hidden = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    layer(hidden, ids, direction=0)
    metrics = layer.get_metrics(reset=True)
    scores = layer._word_scores(layer.head(0), hidden[:3])
    candidates = measured_words(vocab)[1:]
    scores[:, ~torch.from_numpy(candidates)] = float("-inf")
    ranks = (scores > scores.gather(1, (ids[:3] - 1).unsqueeze(1))).sum(1)
    assert metrics["top1_accuracy"] == pytest.approx(float((ranks < 1).float().mean()))
    assert metrics["top10_accuracy"] == 1.0  # only 5 candidates
    assert metrics["unigram_top1_accuracy"] == pytest.approx(1 / 3)
    layer.train()
    layer(hidden, ids, direction=0)
    assert "top1_accuracy" not in layer.get_metrics(reset=True)  # ranked in evaluation only
