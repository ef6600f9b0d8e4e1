import math
from typing import Dict, Tuple

import torch
from allennlp.data import Vocabulary

from elmo_c.modules.metrics import WeightedMean
from elmo_c.modules.next_word_metrics import NextWordRanking
from elmo_c.modules.output_layers.output_layer import OutputLayer


class SoftmaxFamilyOutputLayer(OutputLayer):
    """
    What the softmax baselines (`softmax`, `sampled_softmax`, `adaptive_softmax`,
    `subword_softmax`) share: one output module for both directions or one each,
    the choice of whether the OOV token is a target, and the negative
    log-likelihood metric.  A subclass builds its output modules with `make_heads`
    and computes the summed loss of a batch in `_loss_sum`.

    Word classes: the padding id 0 of the vocabulary is never a target, so the
    word-level layers have `vocabulary size - 1` classes, class `i - 1` for the word
    of id `i` (`class_ids`).  Class 0 is then the OOV token `@@UNKNOWN@@` and the
    classes from 1 on follow the vocabulary's order, which for a vocabulary built
    by `Vocabulary.from_instances` (what `allennlp train` does when the config has
    no `vocabulary`) is by decreasing frequency, ties in order of first appearance.

    Metrics: `nll`, the mean negative log-likelihood per target over both
    directions (each target weighs the same, so with equally many targets in each
    direction, as the model gives a sequence of L tokens L - 1 each, it is the mean
    of the two directions' means), and `perplexity`, its exponential.  In evaluation,
    a layer that scores every word (all but `subword_softmax`) also reports
    `top1_accuracy` and `top10_accuracy` (the word to predict is among the k words
    of highest probability) beside `unigram_top1_accuracy`, ... on the same
    positions, as the `continuous` layer does with its nearest neighbours (see
    `next_word_metrics`: sentence boundaries, padding and OOV are neither measured
    nor candidates), so that every variant has a figure in common.

    Mixed precision: under autocast (`use_amp`, or bfloat16) the heads' matrix
    products run in the lower precision and the log-softmax and the loss in float32
    (each layer casts the scores it normalises).  These layers select the real
    positions with a boolean mask, and the sampled and adaptive softmaxes wait for
    the device inside (the sampler runs on the host; the clusters are selected by
    mask), so unlike the `continuous` layer their training step synchronises with
    the host on a GPU.

    Not registered: a base class.

    # Parameters

    vocab : `Vocabulary`
    share_between_directions : `bool`
        One output module for both language models (as ELMo) or one each.
    predict_oov : `bool`
        Whether the OOV token is a target (as in ELMo, whose vocabulary has `<UNK>`).
        `False` leaves its positions out of the loss and of `num_targets`, as ELMo-C's
        `continuous` layer does (the OOV token has no target vector).
    namespace : `str`
        The vocabulary namespace of the target ids.
    """

    # The ranking metrics' k, and how many positions of a batch and direction they rank
    # (scoring every word costs O(vocabulary) per position).
    top_k = (1, 10)
    max_ranked_positions = 1024
    _ranking_chunk = 64
    _has_word_scores = True  # False where the layer has no distribution over words (subword_softmax)

    def __init__(
        self,
        vocab: Vocabulary,
        share_between_directions: bool,
        predict_oov: bool,
        namespace: str,
    ) -> None:
        super().__init__()
        self.namespace = namespace
        self.num_words = vocab.get_vocab_size(namespace)
        self.share_between_directions = share_between_directions
        self.predict_oov = predict_oov
        self.oov_id = vocab.get_token_to_index_vocabulary(namespace).get(vocab._oov_token, -1)
        self._nll = WeightedMean()
        self.ranking = NextWordRanking(vocab, namespace, list(self.top_k))

    @property
    def num_word_classes(self) -> int:
        """Every word id but padding's."""
        return self.num_words - 1

    @staticmethod
    def class_ids(word_ids: torch.Tensor) -> torch.Tensor:
        """The class of each word id (padding, id 0, has none)."""
        return word_ids - 1

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if not self.predict_oov:
            keep = targets != self.oov_id
            hidden, targets = hidden[keep], targets[keep]
        if targets.numel() == 0:
            loss_sum = hidden.sum() * 0.0  # still part of the graph
        else:
            loss_sum = self._loss_sum(self.head(direction), hidden, targets)
        count = torch.tensor(float(targets.numel()), device=hidden.device)
        self._record(loss_sum.detach(), count)
        if not self.training:
            with torch.no_grad():
                self._record_ranking(self.head(direction), hidden, targets)
        return loss_sum, count

    def _word_scores(self, head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        """
        `(positions, num_word_classes)` scores that order the words as their
        probabilities do (logits or log-probabilities).  A layer without a word-level
        distribution sets `_has_word_scores` to `False` instead.
        """
        return head(hidden)

    def _record_ranking(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> None:
        if not self._has_word_scores:
            return
        measured = self.ranking.is_measured(targets)
        hidden = hidden[measured][: self.max_ranked_positions]
        targets = targets[measured][: self.max_ranked_positions]
        candidates = self.ranking.measured[1:]  # class i is word i + 1
        for start in range(0, len(targets), self._ranking_chunk):
            scores = self._word_scores(head, hidden[start : start + self._ranking_chunk])
            chunk_targets = targets[start : start + self._ranking_chunk]
            scores = scores.float().masked_fill(~candidates, float("-inf"))
            own = scores.gather(1, self.class_ids(chunk_targets).unsqueeze(1))
            self.ranking.record(chunk_targets, (scores > own).sum(dim=-1))

    def _loss_sum(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The summed loss of the targets (word ids, never padding) given their states."""
        raise NotImplementedError

    def _record(self, loss_sum: torch.Tensor, count: torch.Tensor) -> None:
        self._nll(loss_sum, count)

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        nll = self._nll.get_metric(reset)
        ranking = self.ranking.get_metrics(reset)
        return {"nll": nll, "perplexity": _exp(nll), **(ranking if self._has_word_scores and not self.training else {})}


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return float("inf")


@OutputLayer.register("softmax")
class SoftmaxOutputLayer(SoftmaxFamilyOutputLayer):
    """
    A full softmax over the words of the vocabulary: a linear layer from the encoder
    state to one logit per word, and the cross entropy with the word to predict,
    summed.  Its cost is O(vocabulary size) per position; the reference against
    which the approximations (`sampled_softmax`, `adaptive_softmax`) are checked.

    The layer has `vocabulary size - 1` outputs: padding is never predicted (see
    `SoftmaxFamilyOutputLayer` for the classes and the `nll`/`perplexity` metrics).

    Registered as an `OutputLayer` with name "softmax".

    # Parameters

    input_dim : `int`
        Passed by the model.
    vocab : `Vocabulary`
        Passed by `FromParams`.
    share_between_directions : `bool`, optional (default = `True`)
        One softmax for both language models, as ELMo; `False` gives each its own.
    predict_oov : `bool`, optional (default = `True`)
        Whether the OOV token is a target (see `SoftmaxFamilyOutputLayer`).
    namespace : `str`, optional (default = `"tokens"`)
        The vocabulary namespace of the target ids.
    """

    def __init__(
        self,
        input_dim: int,
        vocab: Vocabulary,
        share_between_directions: bool = True,
        predict_oov: bool = True,
        namespace: str = "tokens",
    ) -> None:
        super().__init__(vocab, share_between_directions, predict_oov, namespace)
        self.make_heads(lambda: torch.nn.Linear(input_dim, self.num_word_classes), share_between_directions)

    def _loss_sum(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(head(hidden).float(), self.class_ids(targets), reduction="sum")
