from typing import Callable, Dict, Tuple

import torch
from allennlp.common import Registrable


class OutputLayer(torch.nn.Module, Registrable):
    """
    What a bidirectional language model puts on top of its encoder to turn the
    states at the positions to predict into a loss.  ELMo-C's `continuous` layer
    and the softmax baselines share this interface, so the same model and configs
    serve them all.

    Implementations are built by the model with `input_dim` (the encoder's output
    size per direction) and, through `FromParams`, the `vocab`.

    `takes_padding`: a layer that sets it to `True` is given every position of the
    batch, padding included (target id 0, which it must leave out of the loss and
    of the count), instead of the real positions only.  The shapes are then the
    batch's, and the model selects nothing with a boolean mask, which on a GPU
    makes the host wait for the device (the number of selected rows must be known
    on the host).
    """

    takes_padding = False

    def forward(  # type: ignore[override]
        self, hidden: torch.Tensor, targets: torch.Tensor, direction: int
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        # Parameters

        hidden : `torch.Tensor`
            `(num_positions, input_dim)` encoder states at real (non-padding) positions,
            or at every position with `takes_padding`.
        targets : `torch.Tensor`
            `(num_positions,)` ids of the words to predict (namespace `tokens`; 0 at
            padding with `takes_padding`).
        direction : `int`
            0 for the forward language model, 1 for the backward one.

        # Returns

        `(loss_sum, num_targets)`: the summed loss and how many targets it covers
        (an output layer may leave some out, such as words without a target vector).
        """
        raise NotImplementedError

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {}

    def make_heads(self, make_head: Callable[[], torch.nn.Module], share_between_directions: bool) -> None:
        """Builds `self.heads`: one trainable output module shared by both directions, or one each."""
        self.heads = torch.nn.ModuleList(make_head() for _ in range(1 if share_between_directions else 2))

    def head(self, direction: int) -> torch.nn.Module:
        """The output module of a direction (0 forward, 1 backward)."""
        return self.heads[direction % len(self.heads)]
