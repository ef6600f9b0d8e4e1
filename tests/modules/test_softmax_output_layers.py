import math
import os
from collections import Counter

import pytest
import sentencepiece
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.config_defaults import FIXTURES
from elmo_c.data.dataset_readers import SentencesDatasetReader
from elmo_c.modules.output_layers import (
    AdaptiveSoftmaxOutputLayer,
    OutputLayer,
    SampledSoftmaxOutputLayer,
    SoftmaxOutputLayer,
    SubwordSoftmaxOutputLayer,
)
from elmo_c.modules.output_layers.adaptive_softmax import frequency_cutoffs

TRAIN = os.path.join(FIXTURES, "lm", "train.txt")
SUBWORDS = os.path.join(FIXTURES, "subwords", "bpe.model")
DIM = 8
# Sorted by decreasing frequency, as Vocabulary.from_instances gives.
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "chased", "garden", "grandmother", "<S>", "</S>"]


@pytest.fixture
def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(WORDS, "tokens")
    return vocab


def _ids(vocab, words):
    return torch.tensor([vocab.get_token_index(word, "tokens") for word in words])


def _state(count, dim=DIM, seed=0):
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


def _direct_nll(logits, classes):
    return -torch.log_softmax(logits, dim=-1).gather(1, classes.unsqueeze(1)).sum()


# -- the vocabulary's order and the classes ----------------------------------------------


def test_vocabulary_from_instances_is_sorted_by_decreasing_frequency():
    reader = SentencesDatasetReader()
    instances = list(reader.read(TRAIN))
    vocab = Vocabulary.from_instances(instances)
    counts = Counter(token.text for instance in instances for token in instance["source"].tokens)
    words = [vocab.get_token_from_index(i, "tokens") for i in range(vocab.get_vocab_size("tokens"))]
    assert words[:2] == ["@@PADDING@@", "@@UNKNOWN@@"]
    frequencies = [counts[word] for word in words[2:]]
    assert frequencies == sorted(frequencies, reverse=True)
    assert set(words[2:]) == set(counts)


def test_classes_leave_out_padding_only(vocab):
    layer = SoftmaxOutputLayer(DIM, vocab)
    assert layer.num_word_classes == vocab.get_vocab_size("tokens") - 1
    assert layer.heads[0].out_features == layer.num_word_classes
    assert layer.class_ids(torch.tensor([1, 2])).tolist() == [0, 1]  # OOV is class 0


# -- softmax ------------------------------------------------------------------------------


def test_softmax_loss_is_the_summed_log_softmax_nll(vocab):
    layer = SoftmaxOutputLayer(DIM, vocab)
    targets = _ids(vocab, ["the", "cat", "grandmother", "@@UNKNOWN@@", "</S>"])
    hidden = _state(len(targets))
    loss, count = layer(hidden, targets, direction=0)
    head = layer.heads[0]
    expected = _direct_nll(hidden @ head.weight.t() + head.bias, targets - 1)
    torch.testing.assert_close(loss, expected)
    assert count.item() == len(targets)


def test_directions_share_one_softmax_unless_told_otherwise(vocab):
    targets = _ids(vocab, ["the", "cat"])
    hidden = _state(2)
    shared = SoftmaxOutputLayer(DIM, vocab)
    assert len(shared.heads) == 1
    torch.testing.assert_close(shared(hidden, targets, 0)[0], shared(hidden, targets, 1)[0])
    separate = SoftmaxOutputLayer(DIM, vocab, share_between_directions=False)
    assert len(separate.heads) == 2
    assert not torch.allclose(separate(hidden, targets, 0)[0], separate(hidden, targets, 1)[0])


def test_oov_targets_can_be_left_out(vocab):
    targets = _ids(vocab, ["the", "@@UNKNOWN@@", "cat"])
    hidden = _state(3)
    layer = SoftmaxOutputLayer(DIM, vocab, predict_oov=False)
    loss, count = layer(hidden, targets, 0)
    assert count.item() == 2
    keep = torch.tensor([True, False, True])
    torch.testing.assert_close(loss, layer(hidden[keep], targets[keep], 0)[0])


def test_no_targets_give_a_zero_loss_in_the_graph(vocab):
    layer = SoftmaxOutputLayer(DIM, vocab, predict_oov=False)
    hidden = _state(1).requires_grad_()
    loss, count = layer(hidden, _ids(vocab, ["@@UNKNOWN@@"]), 0)
    assert loss.item() == 0.0 and count.item() == 0
    loss.backward()
    metrics = layer.get_metrics(reset=True)
    assert (metrics["nll"], metrics["perplexity"]) == (0.0, 1.0)


def test_perplexity_is_exp_of_the_mean_nll_over_both_directions(vocab):
    layer = SoftmaxOutputLayer(DIM, vocab, share_between_directions=False)
    forward_loss, forward_count = layer(_state(3, seed=1), _ids(vocab, ["the", "cat", "sat"]), 0)
    backward_loss, backward_count = layer(_state(5, seed=2), _ids(vocab, ["on", "mat", "dog", "the", "<S>"]), 1)
    mean = (forward_loss + backward_loss).item() / (forward_count + backward_count).item()
    metrics = layer.get_metrics(reset=True)
    assert metrics["nll"] == pytest.approx(mean)
    assert metrics["perplexity"] == pytest.approx(math.exp(mean))
    assert layer.get_metrics()["nll"] == 0.0  # reset


# -- sampled softmax ---------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [True, False])
def test_sampled_softmax_in_evaluation_is_the_full_softmax(vocab, sparse):
    layer = SampledSoftmaxOutputLayer(DIM, vocab, num_samples=4, sparse=sparse).eval()
    targets = _ids(vocab, ["the", "garden", "grandmother", "@@UNKNOWN@@", "</S>", "cat"])
    hidden = _state(len(targets))
    loss, count = layer(hidden, targets, direction=1)
    head = layer.heads[0]
    weight = head.softmax_w.weight if sparse else head.softmax_w
    bias = head.softmax_b.weight.squeeze(1) if sparse else head.softmax_b
    torch.testing.assert_close(loss, _direct_nll(hidden @ weight.t() + bias, targets - 1))
    assert count.item() == len(targets)
    metrics = layer.get_metrics(reset=True)
    assert metrics["perplexity"] == pytest.approx(math.exp(loss.item() / len(targets)), rel=1e-5)


def test_sampled_softmax_trains_on_samples_with_sparse_gradients(vocab):
    layer = SampledSoftmaxOutputLayer(DIM, vocab, num_samples=4).train()
    targets = _ids(vocab, ["the", "cat", "grandmother"])
    loss, count = layer(_state(3), targets, 0)
    assert torch.isfinite(loss) and count.item() == 3
    loss.backward()
    assert layer.heads[0].softmax_w.weight.grad.is_sparse
    metrics = layer.get_metrics(reset=True)
    assert set(metrics) == {"sampled_loss"}  # a sampled loss is no likelihood: no perplexity
    assert metrics["sampled_loss"] == pytest.approx(loss.item() / 3)


def test_sampled_softmax_caps_the_samples_below_the_classes(vocab):
    layer = SampledSoftmaxOutputLayer(DIM, vocab)
    assert layer.num_samples == layer.num_word_classes - 1 < 8192
    assert layer.heads[0]._num_samples == layer.num_samples
    with pytest.raises(ConfigurationError, match="num_samples"):
        SampledSoftmaxOutputLayer(DIM, vocab, num_samples=0)


# -- adaptive softmax --------------------------------------------------------------------


def test_adaptive_softmax_loss_is_minus_the_sum_of_its_log_probabilities(vocab):
    layer = AdaptiveSoftmaxOutputLayer(DIM, vocab, cutoffs=[3, 7], div_value=2.0)
    targets = _ids(vocab, ["the", "cat", "chased", "grandmother", "</S>", "@@UNKNOWN@@"])
    hidden = _state(len(targets))
    loss, count = layer(hidden, targets, 0)
    log_probs = layer.heads[0].log_prob(hidden)
    torch.testing.assert_close(log_probs.logsumexp(dim=-1), torch.zeros(len(targets)), atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, -log_probs.gather(1, (targets - 1).unsqueeze(1)).sum())
    assert count.item() == len(targets)


def test_default_cutoffs_follow_the_frequency_order(vocab):
    assert frequency_cutoffs(793470) == [20000, 100000, 420000]  # ELMo's vocabulary
    assert frequency_cutoffs(281) == [70]
    assert frequency_cutoffs(2) == [1]
    layer = AdaptiveSoftmaxOutputLayer(DIM, vocab)
    assert layer.cutoffs == frequency_cutoffs(layer.num_word_classes) == [3]
    assert layer.heads[0].cutoffs == [3, layer.num_word_classes]


@pytest.mark.parametrize("cutoffs", [[], [0], [5, 3], [3, 3], [12]])
def test_invalid_cutoffs_are_configuration_errors(vocab, cutoffs):
    with pytest.raises(ConfigurationError, match="cutoffs"):
        AdaptiveSoftmaxOutputLayer(DIM, vocab, cutoffs=cutoffs)


def test_tail_clusters_must_keep_a_projection(vocab):
    with pytest.raises(ConfigurationError, match="0 dimensions"):
        AdaptiveSoftmaxOutputLayer(DIM, vocab, cutoffs=[2, 5], div_value=4.0)  # 8 // 4**2 = 0


# -- subword softmax ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pieces():
    return sentencepiece.SentencePieceProcessor(model_file=SUBWORDS)


def test_words_map_to_their_pieces(vocab, pieces):
    layer = SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=SUBWORDS)
    assert layer.num_pieces == pieces.get_piece_size() == layer.heads[0].out_features
    table = layer.piece_ids
    assert table.shape[0] == vocab.get_vocab_size("tokens")

    def row(word):
        ids = table[vocab.get_token_index(word, "tokens")].tolist()
        return [pieces.id_to_piece(i) for i in ids if i >= 0]

    assert (table[0] == -1).all()  # padding: no piece
    assert row("@@UNKNOWN@@") == ["<unk>"]
    assert row("<S>") == ["<S>"] and row("</S>") == ["</S>"]  # user-defined pieces, whole
    assert row("cat") == ["▁cat"]
    for word in ["the", "chased", "garden", "grandmother"]:
        assert row(word) == pieces.encode(word, out_type=str)
    assert len(row("grandmother")) > 1


def test_subword_loss_sums_the_pieces_of_each_word_counted_once(vocab, pieces):
    layer = SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=SUBWORDS)
    words = ["grandmother", "cat", "</S>"]
    hidden = _state(len(words))
    loss, count = layer(hidden, _ids(vocab, words), 0)
    head = layer.heads[0]
    log_probs = torch.log_softmax(hidden @ head.weight.t() + head.bias, dim=-1)
    ids = [pieces.encode(words[0]), pieces.encode(words[1]), [pieces.piece_to_id("</S>")]]
    expected = -sum(log_probs[i, piece] for i, word in enumerate(ids) for piece in word)
    torch.testing.assert_close(loss, expected)
    assert count.item() == len(words)


def test_subword_pieces_can_be_capped(vocab, pieces):
    layer = SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=SUBWORDS, max_pieces=2)
    assert layer.piece_ids.shape[1] == 2
    row = layer.piece_ids[vocab.get_token_index("grandmother", "tokens")].tolist()
    assert row == pieces.encode("grandmother")[:2]


def test_subword_table_is_not_in_the_state_dict(vocab):
    layer = SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=SUBWORDS)
    assert set(layer.state_dict()) == {"heads.0.weight", "heads.0.bias"}


def test_missing_or_invalid_subword_model_is_a_configuration_error(vocab, tmp_path):
    with pytest.raises(ConfigurationError, match="no-such.model.*build-subwords"):
        SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=str(tmp_path / "no-such.model"))
    garbage = tmp_path / "garbage.model"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ConfigurationError, match="not a sentencepiece model"):
        SubwordSoftmaxOutputLayer(DIM, vocab, subword_model=str(garbage))


# -- all of them -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"type": "softmax", "share_between_directions": False},
        {"type": "sampled_softmax", "num_samples": 4},
        {"type": "adaptive_softmax", "cutoffs": [2, 5], "div_value": 2.0},
        {"type": "subword_softmax", "subword_model": SUBWORDS},
    ],
)
def test_built_from_params_with_the_models_input_dim(vocab, params):
    layer = OutputLayer.from_params(Params(params), vocab=vocab, input_dim=DIM)
    assert layer.training
    targets = _ids(vocab, ["the", "cat", "<S>"])
    hidden = _state(3).requires_grad_()
    loss, count = layer(hidden, targets, 1)
    loss.backward()
    assert count.item() == 3 and torch.isfinite(loss) and hidden.grad is not None


@pytest.mark.parametrize(
    "params",
    [
        {"type": "softmax"},
        {"type": "sampled_softmax", "num_samples": 4},
        {"type": "adaptive_softmax", "cutoffs": [2, 5], "div_value": 2.0},
        {"type": "subword_softmax", "subword_model": SUBWORDS},
    ],
)
def test_under_bfloat16_autocast_the_loss_is_float32_and_close_to_the_float32_loss(vocab, params):
    layer = OutputLayer.from_params(Params(params), vocab=vocab, input_dim=16).eval()
    targets = _ids(vocab, ["the", "cat", "grandmother", "garden", "</S>", "@@UNKNOWN@@"])
    # What an encoder under autocast gives: bfloat16 states.
    hidden = torch.randn(len(targets), 16, generator=torch.Generator().manual_seed(0)).bfloat16()
    expected, _ = layer(hidden.float(), targets, 0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, count = layer(hidden, targets, 0)
    assert loss.dtype == torch.float32 and count.item() == len(targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-2)
    layer.train()
    hidden.requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = layer(hidden, targets, 1)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(hidden.grad).all()
    for parameter in layer.parameters():
        if parameter.grad is not None:
            grad = parameter.grad.coalesce().values() if parameter.grad.is_sparse else parameter.grad
            assert torch.isfinite(grad).all()


def test_the_adaptive_softmax_scores_leave_its_clusters_in_float32(vocab):
    """So that its float32 log-probability buffer never meets a float16 log-softmax (CUDA's use_amp)."""
    layer = AdaptiveSoftmaxOutputLayer(16, vocab, cutoffs=[2, 5], div_value=2.0)
    head = layer.heads[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = [head.head(_state(3, 16)), *(cluster(_state(3, 16)) for cluster in head.tail)]
    assert all(score.dtype == torch.float32 for score in scores)
