from typing import List, Optional

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError


class ProjectedLstm(torch.nn.LSTM):
    """
    One unidirectional LSTM layer with a projection of its hidden state (LSTMP, as
    in ELMo).  Without clipping it is `torch.nn.LSTM(proj_size=...)` (fused, cuDNN
    on GPU); ELMo's optional cell and projection clipping cannot be fused, so with
    clipping the same parameters run step by step.
    """

    def __init__(
        self,
        input_size: int,
        cell_size: int,
        projection_dim: int,
        cell_clip: Optional[float] = None,
        projection_clip: Optional[float] = None,
    ) -> None:
        proj_size = projection_dim if projection_dim != cell_size else 0
        super().__init__(input_size, cell_size, proj_size=proj_size, batch_first=True)
        self.cell_clip = cell_clip
        self.projection_clip = projection_clip

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """`(batch, time, input_size)` -> `(batch, time, projection_dim)`."""
        if self.cell_clip is None and self.projection_clip is None:
            return super().forward(inputs)[0]
        return self._clipped_forward(inputs)

    def _clipped_forward(self, inputs: torch.Tensor) -> torch.Tensor:
        batch_size, num_steps, _ = inputs.shape
        input_gates = torch.nn.functional.linear(inputs, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        hidden = inputs.new_zeros(batch_size, self.weight_hh_l0.size(1))
        cell = inputs.new_zeros(batch_size, self.hidden_size)
        outputs = []
        for step in range(num_steps):
            gates = input_gates[:, step] + hidden @ self.weight_hh_l0.t()
            input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=-1)
            cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
            if self.cell_clip is not None:
                cell = cell.clamp(-self.cell_clip, self.cell_clip)
            hidden = torch.sigmoid(output_gate) * torch.tanh(cell)
            if self.proj_size > 0:
                hidden = hidden @ self.weight_hr_l0.t()
            if self.projection_clip is not None:
                hidden = hidden.clamp(-self.projection_clip, self.projection_clip)
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


class BidirectionalLmEncoder(torch.nn.Module, Registrable):
    """
    ELMo's biLM encoder: separate forward and backward stacks of projected LSTMs
    (the backward stack reads each sentence right to left), with residual
    connections between layers and dropout between layers in training.

    `forward` returns every LSTM layer's output, forward and backward concatenated,
    for the downstream scalar mix; the top layer's halves feed the two language
    models.

    Registered as a `BidirectionalLmEncoder` with name "lstm" (the default, so a
    config needs no `type`); "from_archive" starts it from a trained model
    (`elmo_c/modules/archived_encoder.py`).

    # Parameters

    input_dim : `int`
        Passed by the model: the input layer's output dimension.
    num_layers : `int`, optional (default = `2`)
    cell_size : `int`, optional (default = `4096`)
    projection_dim : `int`, optional (default = `512`)
        Output size of each layer and direction; equal to `cell_size` for no projection.
    dropout : `float`, optional (default = `0.1`)
        Applied to each layer's output before the next layer (training only).
    cell_clip : `float`, optional (default = `None`)
        Clip memory cells to `[-cell_clip, cell_clip]` (ELMo used 3); slower, unfused.
    projection_clip : `float`, optional (default = `None`)
        Clip projected states likewise (ELMo used 3).
    residual : `bool`, optional (default = `True`)
        Add each layer's input to its output, from the second layer on.
    forget_bias : `float`, optional (default = `1.0`)
        Initial forget-gate bias.
    layer_norm : `bool`, optional (default = `False`)
        Layer-normalise each LSTM layer's output (before the residual connection),
        as the released ELMo-C configuration does.  ELMo's weight format cannot
        express it (`export-elmo` refuses such models).
    """

    default_implementation = "lstm"

    def __init__(
        self,
        input_dim: int,
        num_layers: int = 2,
        cell_size: int = 4096,
        projection_dim: int = 512,
        dropout: float = 0.1,
        cell_clip: Optional[float] = None,
        projection_clip: Optional[float] = None,
        residual: bool = True,
        forget_bias: float = 1.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1 or projection_dim > cell_size:
            raise ConfigurationError(
                f"The encoder needs num_layers >= 1 and projection_dim <= cell_size, got "
                f"num_layers={num_layers}, projection_dim={projection_dim}, cell_size={cell_size}"
            )
        self.input_dim = input_dim
        self.num_layers = num_layers
        self.cell_size = cell_size
        self.projection_dim = projection_dim
        self.cell_clip = cell_clip
        self.projection_clip = projection_clip
        self.residual = residual
        self.dropout = torch.nn.Dropout(dropout)
        self.forward_layers = self._stack(forget_bias)
        self.backward_layers = self._stack(forget_bias)
        self.layer_norm = layer_norm
        if layer_norm:
            self.forward_norms = self._norms()
            self.backward_norms = self._norms()

    def _norms(self) -> torch.nn.ModuleList:
        return torch.nn.ModuleList(torch.nn.LayerNorm(self.projection_dim) for _ in range(self.num_layers))

    def _stack(self, forget_bias: float) -> torch.nn.ModuleList:
        layers = torch.nn.ModuleList(
            ProjectedLstm(
                self.input_dim if index == 0 else self.projection_dim,
                self.cell_size,
                self.projection_dim,
                self.cell_clip,
                self.projection_clip,
            )
            for index in range(self.num_layers)
        )
        for layer in layers:
            with torch.no_grad():
                layer.bias_hh_l0.zero_()
                layer.bias_ih_l0.zero_()
                layer.bias_ih_l0[self.cell_size : 2 * self.cell_size].fill_(forget_bias)
        return layers

    def get_output_dim(self) -> int:
        """The size of one direction's output (what each language model sees)."""
        return self.projection_dim

    def forward(self, inputs: torch.Tensor, mask: torch.BoolTensor) -> List[torch.Tensor]:
        """
        # Parameters

        inputs : `torch.Tensor`
            `(batch, time, input_dim)`, right-padded.
        mask : `torch.BoolTensor`
            `(batch, time)`.

        # Returns

        One `(batch, time, 2 * projection_dim)` tensor per LSTM layer, forward states
        first, zero at padding.
        """
        lengths = mask.sum(dim=1)
        forward_outputs = self._run_stack(self.forward_layers, inputs, mask, self._layer_norms(0))
        reversed_outputs = self._run_stack(
            self.backward_layers, reverse_padded(inputs, lengths), mask, self._layer_norms(1)
        )
        backward_outputs = [reverse_padded(output, lengths) for output in reversed_outputs]
        return [torch.cat(pair, dim=-1) for pair in zip(forward_outputs, backward_outputs)]

    def _layer_norms(self, direction: int) -> List[Optional[torch.nn.Module]]:
        if not self.layer_norm:
            return [None] * self.num_layers
        return list(self.forward_norms if direction == 0 else self.backward_norms)

    def _run_stack(
        self,
        layers: torch.nn.ModuleList,
        inputs: torch.Tensor,
        mask: torch.BoolTensor,
        norms: List[Optional[torch.nn.Module]],
    ) -> List[torch.Tensor]:
        # Padding is on the right, so it never influences real positions of a
        # left-to-right pass: no packing needed.
        outputs = []
        layer_input = inputs
        for index, (layer, norm) in enumerate(zip(layers, norms)):
            output = layer(layer_input)
            if norm is not None:
                output = norm(output)
            if self.residual and index > 0:
                output = output + layer_input
            output = output * mask.unsqueeze(-1)
            outputs.append(output)
            layer_input = self.dropout(output)
        return outputs


# The base class is the "lstm" implementation itself (as AllenNLP registers `Vocabulary`).
BidirectionalLmEncoder.register("lstm")(BidirectionalLmEncoder)


def reverse_padded(sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """
    Reverses each `(time, ...)` sequence of a right-padded batch within its own
    length, leaving the padding where it is.
    """
    num_steps = sequences.size(1)
    steps = torch.arange(num_steps, device=sequences.device).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    indices = torch.where(steps < lengths, lengths - 1 - steps, steps)
    indices = indices.view(*indices.shape, *([1] * (sequences.dim() - 2))).expand_as(sequences)
    return sequences.gather(1, indices)
