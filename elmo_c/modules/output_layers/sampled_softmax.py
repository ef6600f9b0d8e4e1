import logging
from typing import Dict

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss

from elmo_c.modules.metrics import WeightedMean
from elmo_c.modules.output_layers.output_layer import OutputLayer
from elmo_c.modules.output_layers.softmax import SoftmaxFamilyOutputLayer

logger = logging.getLogger(__name__)


@OutputLayer.register("sampled_softmax")
class SampledSoftmaxOutputLayer(SoftmaxFamilyOutputLayer):
    """
    ELMo's output layer: a softmax over the words of the vocabulary, trained with
    sampled softmax (Jean et al., 2015) through AllenNLP's `SampledSoftmaxLoss`.  In
    training each batch scores the targets against `num_samples` words drawn without
    replacement from a log-uniform (Zipfian) distribution over the class ids, with
    the logits corrected by the expected counts of the draws and accidental hits of
    a target removed, as TensorFlow's `sampled_softmax_loss` that ELMo used.  In
    evaluation (`model.eval()`) `SampledSoftmaxLoss` computes the full softmax, so
    the validation `nll`/`perplexity` are exact.

    The log-uniform sampler assumes that class ids are sorted by decreasing
    frequency.  The classes are the word ids minus one (padding, id 0, is never a
    target nor a sample), and `Vocabulary.from_instances` sorts the words by
    decreasing count after `@@PADDING@@` and `@@UNKNOWN@@`: class 0 is the OOV token,
    sampled as the most frequent word, which it is when the vocabulary was cut
    (`min_count`, `max_vocab_size`) and which costs one of `num_samples` draws
    otherwise.  A vocabulary read from files or extended keeps whatever order those
    give: training is still correct (the expected counts correct for the sampler),
    only noisier.

    With `sparse` (ELMo's choice) the softmax weights get sparse gradients, only for
    the rows of the targets and samples: the optimizer must accept them, such as
    AllenNLP's `dense_sparse_adam` (Adam on the dense parameters, lazy Adam on the
    sparse ones) or `adagrad` (ELMo's optimizer); `adam` refuses them.

    Metrics: `nll` and `perplexity` in evaluation (see `SoftmaxFamilyOutputLayer`);
    in training `sampled_loss`, the mean sampled-softmax loss, which is not a
    likelihood and so gets no perplexity.

    Registered as an `OutputLayer` with name "sampled_softmax".

    # Parameters

    input_dim : `int`
        Passed by the model.
    vocab : `Vocabulary`
        Passed by `FromParams`.
    num_samples : `int`, optional (default = `8192`)
        Negative samples per batch and direction (ELMo's 8192).  Capped at the number
        of classes minus one (with a warning), as `SampledSoftmaxLoss` needs fewer
        samples than classes.
    sparse : `bool`, optional (default = `True`)
        Sparse gradients for the softmax weights (see above).
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
        num_samples: int = 8192,
        sparse: bool = True,
        share_between_directions: bool = True,
        predict_oov: bool = True,
        namespace: str = "tokens",
    ) -> None:
        super().__init__(vocab, share_between_directions, predict_oov, namespace)
        if num_samples < 1:
            raise ConfigurationError(f"num_samples must be positive, got {num_samples}")
        if self.num_word_classes < 2:
            raise ConfigurationError(
                f"A sampled softmax needs at least 2 words in namespace {namespace}, "
                f"the vocabulary has {self.num_word_classes}"
            )
        self.num_samples = min(num_samples, self.num_word_classes - 1)
        if self.num_samples < num_samples:
            logger.warning(
                "num_samples=%d is not below the %d classes of the vocabulary: sampling %d",
                num_samples,
                self.num_word_classes,
                self.num_samples,
            )
        self.sparse = sparse
        self.make_heads(
            lambda: SampledSoftmaxLoss(
                num_words=self.num_word_classes, embedding_dim=input_dim, num_samples=self.num_samples, sparse=sparse
            ),
            share_between_directions,
        )
        self._sampled_loss = WeightedMean()

    def _loss_sum(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # float32 states: under autocast only the matrix products inside run in the lower
        # precision; the logits (+ float32 biases and corrections) and the loss are float32.
        return head(hidden.float(), self.class_ids(targets))

    def _word_scores(self, head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        weights, biases = (
            (head.softmax_w.weight, head.softmax_b.weight.squeeze(1)) if head.sparse else (head.softmax_w, head.softmax_b)
        )
        return (hidden @ weights.t()).float() + biases

    def _record(self, loss_sum: torch.Tensor, count: torch.Tensor) -> None:
        if self.training:
            self._sampled_loss(loss_sum, count)
        else:
            super()._record(loss_sum, count)

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        if self.training:
            return {"sampled_loss": self._sampled_loss.get_metric(reset)}
        return super().get_metrics(reset)
