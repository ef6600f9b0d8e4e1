from typing import Dict, List, Optional, Tuple

import torch
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.common import Lazy
from allennlp.models import Model
from allennlp.nn import InitializerApplicator
from allennlp.nn.util import get_text_field_mask

from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.input_layers import InputLayer
from elmo_c.modules.metrics import WeightedMean
from elmo_c.modules.output_layers import OutputLayer

FORWARD, BACKWARD = 0, 1


@Model.register("continuous_output_language_model")
class ContinuousOutputLanguageModel(Model):
    """
    A bidirectional language model with ELMo's architecture whose output layer is
    pluggable: ELMo-C's `continuous` layer (regress the pretrained vector of the
    next word) by default, or a softmax baseline.  The forward and backward models
    are trained together; at each position the forward one predicts the next word
    and the backward one the previous word.

    On a GPU: with the `continuous` layer (which takes the padding, see
    `OutputLayer.takes_padding`) and a `device_resident` target table, a training
    forward and backward pass never makes the host wait for the device; the losses
    and metrics are accumulated as device tensors and read by `get_metrics`.  With
    the target table on the host, each direction's lookup waits once (the ids go to
    the host).  The softmax baselines select the real positions with a boolean mask,
    which waits too.  AllenNLP's trainer itself waits a few times a step, which no
    model avoids: it reads `loss.item()`, the gradient norm (`.item()`, with
    `grad_norm`) and `get_metrics` every batch, and `use_amp`'s gradient scaler
    checks the gradients for infinities.

    Registered as a `Model` with name "continuous_output_language_model".

    # Parameters

    vocab : `Vocabulary`
    input_layer : `InputLayer`
        ELMo's character CNN (`characters`) or frozen word vectors (`word_vectors`).
    encoder : `Lazy[BidirectionalLmEncoder]`
        Built with `input_dim` = the input layer's output size.
    output_layer : `Lazy[OutputLayer]`
        Built with `input_dim` = the encoder's output size per direction.
    dropout : `float`, optional (default = `0.1`)
        On the top layer's states before the output layer (training only).
    target_indexer : `str`, optional (default = `"tokens"`)
        The `single_id` indexer of the "source" field whose ids are the words to predict.
    initializer : `InitializerApplicator`, optional
    """

    def __init__(
        self,
        vocab: Vocabulary,
        input_layer: InputLayer,
        encoder: Lazy[BidirectionalLmEncoder],
        output_layer: Lazy[OutputLayer],
        dropout: float = 0.1,
        target_indexer: str = "tokens",
        initializer: Optional[InitializerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        self.input_layer = input_layer
        self.encoder = encoder.construct(input_dim=input_layer.get_output_dim())
        self.output_layer = output_layer.construct(input_dim=self.encoder.get_output_dim())
        self.dropout = torch.nn.Dropout(dropout)
        self.target_indexer = target_indexer
        self._losses = {FORWARD: WeightedMean(), BACKWARD: WeightedMean()}
        if initializer is not None:
            initializer(self)

    def forward(self, source: TextFieldTensors) -> Dict[str, torch.Tensor]:  # type: ignore[override]
        """
        # Parameters

        source : `TextFieldTensors`
            The sentences, with the input layer's indexer and the target indexer.

        # Returns

        `loss` (mean of the two directions' mean losses), `forward_loss`,
        `backward_loss` and `num_targets`.  `layer_outputs` gives the layers
        themselves (for a downstream mix or inspection).
        """
        mask = get_text_field_mask(source)
        layers = self.layer_outputs(source, mask)
        states = self.dropout(layers[-1])
        forward_targets, backward_targets = self._targets(source[self.target_indexer]["tokens"])
        half = self.encoder.get_output_dim()
        forward_loss, forward_count = self._direction_loss(states[..., :half], forward_targets, FORWARD)
        backward_loss, backward_count = self._direction_loss(states[..., half:], backward_targets, BACKWARD)
        return {
            "loss": 0.5 * (forward_loss + backward_loss),
            "forward_loss": forward_loss.detach(),
            "backward_loss": backward_loss.detach(),
            "num_targets": forward_count + backward_count,
        }

    def layer_outputs(self, source: TextFieldTensors, mask: torch.BoolTensor) -> List[torch.Tensor]:
        """
        ELMo's layers for a downstream scalar mix: the input layer (duplicated so it
        has both directions' size) followed by each LSTM layer.
        """
        embedded = self.input_layer(source) * mask.unsqueeze(-1)
        return [torch.cat([embedded, embedded], dim=-1)] + self.encoder(embedded, mask)

    @staticmethod
    def _targets(token_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        forward_targets = torch.zeros_like(token_ids)
        backward_targets = torch.zeros_like(token_ids)
        forward_targets[:, :-1] = token_ids[:, 1:]
        backward_targets[:, 1:] = token_ids[:, :-1]
        is_token = token_ids != 0  # padding positions predict nothing
        return forward_targets * is_token, backward_targets * is_token

    def _direction_loss(
        self, states: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.output_layer.takes_padding:  # static shapes: nothing waits for the device
            loss_sum, count = self.output_layer(states.reshape(-1, states.size(-1)), targets.reshape(-1), direction)
        else:
            positions = targets > 0  # id 0 is padding: also past the ends of each sentence
            loss_sum, count = self.output_layer(states[positions], targets[positions], direction)
        self._losses[direction](loss_sum.detach(), count)
        return loss_sum / count.clamp(min=1.0), count

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {
            "forward_loss": self._losses[FORWARD].get_metric(reset),
            "backward_loss": self._losses[BACKWARD].get_metric(reset),
        }
        metrics.update(self.output_layer.get_metrics(reset))
        return metrics

