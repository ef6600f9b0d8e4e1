"""
Intrinsic metrics that every output layer reports in the same way, each beside the
baseline a reader needs to judge it.

A next-word top-k accuracy means little alone: a unigram model that always
predicts the k most frequent training words scores 0.28 at k = 10 on the Penn
Treebank.  So every ranking metric (`top{k}_accuracy`: the word to predict is
among the k best candidates of the model) comes with `unigram_top{k}_accuracy`
on the same positions.  ELMo's sentence boundaries `<S>` and `</S>` are trivially
predictable (every sentence ends with `</S>`), so they are neither measured nor
candidates; padding and the OOV token neither.
"""
from typing import Dict, Iterable, List, Optional

import numpy
import torch
from allennlp.data import Vocabulary

from elmo_c.data.counted_vocabulary import token_counts
from elmo_c.modules.metrics import WeightedMean

SENTENCE_BOUNDARIES = ("<S>", "</S>")


def measured_words(
    vocab: Vocabulary, namespace: str = "tokens", excluded: Iterable[str] = SENTENCE_BOUNDARIES
) -> numpy.ndarray:
    """Per word id, whether it is a word the metrics measure and rank (not padding, OOV or a boundary)."""
    measured = numpy.ones(vocab.get_vocab_size(namespace), dtype=bool)
    token_to_index = vocab.get_token_to_index_vocabulary(namespace)
    for token in (vocab._padding_token, vocab._oov_token, *excluded):
        if token in token_to_index:
            measured[token_to_index[token]] = False
    return measured


def unigram_ranks(counts: numpy.ndarray, measured: numpy.ndarray) -> numpy.ndarray:
    """
    Per word id, its rank among the measured words by decreasing training count
    (ties by id); unmeasured words rank last.
    """
    candidates = numpy.flatnonzero(measured)
    order = candidates[numpy.argsort(-counts[candidates], kind="stable")]
    ranks = numpy.full(len(counts), len(counts), dtype=numpy.int64)
    ranks[order] = numpy.arange(len(order))
    return ranks


class NextWordRanking(torch.nn.Module):
    """
    `top{k}_accuracy` of an output layer and `unigram_top{k}_accuracy` of a unigram
    model on the same positions.  The output layer computes, for each measured
    position, how many candidate words it scores above the word to predict, and
    calls `record`.  The unigram model needs the vocabulary's training counts (a
    `counted` vocabulary); without them only the model's accuracies are reported.

    # Parameters

    vocab : `Vocabulary`
    namespace : `str`
    top_k : `List[int]`
    """

    def __init__(self, vocab: Vocabulary, namespace: str, top_k: List[int]) -> None:
        super().__init__()
        self.top_k = sorted(set(top_k))
        measured = measured_words(vocab, namespace)
        counts = token_counts(vocab, namespace)
        # Not persistent: they follow from the vocabulary, which the archive holds.
        self.register_buffer("measured", torch.from_numpy(measured), persistent=False)
        self.register_buffer(
            "unigram_rank",
            torch.from_numpy(unigram_ranks(counts, measured)) if counts is not None else None,
            persistent=False,
        )
        self.counts: Optional[numpy.ndarray] = counts
        self._model = {k: WeightedMean() for k in self.top_k}
        self._unigram = {k: WeightedMean() for k in self.top_k}

    def is_measured(self, word_ids: torch.Tensor) -> torch.Tensor:
        return self.measured[word_ids]

    def record(self, word_ids: torch.Tensor, beaten_by: torch.Tensor) -> None:
        """
        `word_ids`: the measured words to predict; `beaten_by`: for each, the number of
        candidate words the model scores higher.
        """
        count = len(word_ids)
        ranks = self.unigram_rank[word_ids] if self.unigram_rank is not None else None
        for k in self.top_k:
            self._model[k]((beaten_by < k).sum(), count)
            if ranks is not None:
                self._unigram[k]((ranks < k).sum(), count)

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {f"top{k}_accuracy": mean.get_metric(reset) for k, mean in self._model.items()}
        if self.unigram_rank is not None:
            metrics.update({f"unigram_top{k}_accuracy": mean.get_metric(reset) for k, mean in self._unigram.items()})
        return metrics
