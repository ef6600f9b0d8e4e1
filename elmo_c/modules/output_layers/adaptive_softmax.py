from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from elmo_c.modules.output_layers.output_layer import OutputLayer
from elmo_c.modules.output_layers.softmax import SoftmaxFamilyOutputLayer

# Each tail cluster is this many times larger than the one before it.  It matches
# the default `div_value` of 4: cluster i projects the state to input_dim / 4**i
# dimensions, so every tail cluster costs about the same (size x projection size).
CLUSTER_GROWTH = 4


def frequency_cutoffs(num_classes: int, head_size: int = 20000, growth: int = CLUSTER_GROWTH) -> List[int]:
    """
    Cluster boundaries for an adaptive softmax over `num_classes` classes sorted by
    decreasing frequency: a head of the `head_size` most frequent classes (at most a
    quarter of them, so that a small vocabulary still has a tail), then tail
    clusters each `growth` times larger than the previous one, the last taking the
    rest.  For ELMo's 793K-word vocabulary: `[20000, 100000, 420000]`.
    """
    if num_classes < 2:
        raise ConfigurationError(f"An adaptive softmax needs at least 2 classes, got {num_classes}")
    if head_size < 1 or growth < 2:
        raise ConfigurationError(f"head_size must be positive and growth at least 2, got {head_size} and {growth}")
    size = min(head_size, max(1, num_classes // 4))
    cutoffs = [size]
    while cutoffs[-1] + size * growth < num_classes:
        size *= growth
        cutoffs.append(cutoffs[-1] + size)
    return cutoffs


@OutputLayer.register("adaptive_softmax")
class AdaptiveSoftmaxOutputLayer(SoftmaxFamilyOutputLayer):
    """
    ELMo-A's output layer: the adaptive softmax of Grave et al. (2017), PyTorch's
    `AdaptiveLogSoftmaxWithLoss`.  The words are split by frequency into a head
    (the most frequent words plus one entry per tail cluster, a full softmax at
    `input_dim`) and tail clusters of rarer words, each scored only for the targets
    that fall in it, after a projection to `input_dim / div_value**i` dimensions.
    The loss is the exact negative log-likelihood of this factorised distribution,
    in training and evaluation alike.

    The clusters are ranges of class ids, so the vocabulary must be sorted by
    decreasing frequency.  `Vocabulary.from_instances` (what `allennlp train` builds
    when the config has no `vocabulary`) is: it sorts each namespace by decreasing
    count after `@@PADDING@@` (id 0) and `@@UNKNOWN@@` (id 1).  The classes are the
    word ids minus one (padding is never a target, see `SoftmaxFamilyOutputLayer`),
    so the head holds the OOV token and the most frequent words.  A vocabulary read
    from files keeps their order: sort it by frequency, or the head is not the
    frequent words and the layer gets slower and worse, though still correct.

    Registered as an `OutputLayer` with name "adaptive_softmax".

    # Parameters

    input_dim : `int`
        Passed by the model.
    vocab : `Vocabulary`
        Passed by `FromParams`.
    cutoffs : `List[int]`, optional (default = `None`)
        Class ids where clusters start (increasing, between 1 and the number of
        classes - 1; class = word id - 1).  By default `frequency_cutoffs`: a head of
        the `head_size` most frequent words, then clusters 4 times larger each,
        `[20000, 100000, 420000]` for ELMo's 793K words.
    div_value : `float`, optional (default = `4.0`)
        Each cluster's projection is this many times smaller than the previous one's.
    head_size : `int`, optional (default = `20000`)
        Words in the head when `cutoffs` is not given (at most a quarter of them).
    share_between_directions : `bool`, optional (default = `True`)
        One adaptive softmax for both language models, as ELMo's softmax; `False`
        gives each its own.
    predict_oov : `bool`, optional (default = `True`)
        Whether the OOV token is a target (see `SoftmaxFamilyOutputLayer`).
    namespace : `str`, optional (default = `"tokens"`)
        The vocabulary namespace of the target ids.
    """

    def __init__(
        self,
        input_dim: int,
        vocab: Vocabulary,
        cutoffs: Optional[List[int]] = None,
        div_value: float = 4.0,
        head_size: int = 20000,
        share_between_directions: bool = True,
        predict_oov: bool = True,
        namespace: str = "tokens",
    ) -> None:
        super().__init__(vocab, share_between_directions, predict_oov, namespace)
        num_classes = self.num_word_classes
        self.cutoffs = list(cutoffs) if cutoffs is not None else frequency_cutoffs(num_classes, head_size)
        if (
            not self.cutoffs
            or any(later <= earlier for earlier, later in zip(self.cutoffs, self.cutoffs[1:]))
            or self.cutoffs[0] < 1
            or self.cutoffs[-1] > num_classes - 1
        ):
            raise ConfigurationError(
                f"cutoffs must be increasing class ids between 1 and {num_classes - 1} (the "
                f"vocabulary of namespace {namespace} has {num_classes} classes), got {self.cutoffs}"
            )
        if div_value <= 0:
            raise ConfigurationError(f"div_value must be positive, got {div_value}")
        if int(input_dim // div_value ** len(self.cutoffs)) < 1:
            raise ConfigurationError(
                f"The last of {len(self.cutoffs)} tail clusters would project the {input_dim}-d state to "
                f"{input_dim} // {div_value}**{len(self.cutoffs)} = 0 dimensions: "
                "use fewer cutoffs or a smaller div_value"
            )
        self.make_heads(
            lambda: _adaptive_softmax(input_dim, num_classes, self.cutoffs, div_value), share_between_directions
        )

    def _word_scores(self, head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return head.log_prob(hidden.float())

    def _loss_sum(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -head(hidden.float(), self.class_ids(targets)).output.sum()


def _adaptive_softmax(
    input_dim: int, num_classes: int, cutoffs: List[int], div_value: float
) -> torch.nn.AdaptiveLogSoftmaxWithLoss:
    """
    PyTorch's adaptive softmax, made safe under autocast: the scores of its head and
    tail clusters are cast to float32 as they leave them (forward hooks), so that the
    log-softmaxes and the log-probabilities it writes into a buffer of the input's
    dtype (given float32 states) are float32, while the matrix products run in
    autocast's precision.  Without it, CUDA's float16 autocast fails (a float32
    log-softmax copied into a float16 buffer) and a bfloat16 one sums the loss in
    bfloat16.
    """
    module = torch.nn.AdaptiveLogSoftmaxWithLoss(input_dim, num_classes, cutoffs, div_value=div_value)
    module.head.register_forward_hook(_float32_output)
    for cluster in module.tail:
        cluster.register_forward_hook(_float32_output)
    return module


def _float32_output(module: torch.nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    return output.float()
