"""
The direction-preserving autoencoder (`autoencoder`): an encoder d -> k and a decoder
k -> d (linear, initialised as the truncated SVD, plus a tanh layer), trained on the
cosine between each vector and its reconstruction.  A row is `k` float16 codes; only
the decoder is stored.
"""
from typing import TYPE_CHECKING, Any, Dict, Iterator

import numpy
import torch
from allennlp.common.tqdm import Tqdm

from elmo_c.compression.codec import CHUNK_ROWS
from elmo_c.compression.svd import SvdCodec, principal_directions

if TYPE_CHECKING:
    from elmo_c.compression.settings import CompressionSettings


class AutoencoderCodec(SvdCodec):
    """
    The `autoencoder` method: codes as the `svd` method's (`code_dim` per row, checked
    alike), from an encoder and decoder trained with `train_autoencoder`.
    """

    method = "autoencoder"

    def options(self, settings: "CompressionSettings") -> Dict[str, Any]:
        return dict(code_dim=settings.code_dim, hidden=settings.hidden, epochs=settings.epochs,
                    magnitude_weight=settings.magnitude_weight, batch_size=settings.batch_size,
                    learning_rate=settings.learning_rate, seed=settings.seed)

    def compress(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> Dict[str, numpy.ndarray]:
        return train_autoencoder(matrix, settings.code_dim, settings.hidden, settings.epochs,
                                 settings.magnitude_weight, settings.batch_size, settings.learning_rate,
                                 settings.seed)


class _Autoencoder(torch.nn.Module):
    """
    Linear maps initialised as the truncated SVD, each plus a tanh layer whose
    output starts at zero: training starts from the SVD's reconstruction.
    """

    def __init__(self, directions: numpy.ndarray, hidden: int) -> None:
        super().__init__()
        code_dim, dim = directions.shape
        self.encoder = torch.nn.Linear(dim, code_dim, bias=False)
        self.decoder = torch.nn.Linear(code_dim, dim)
        with torch.no_grad():
            self.encoder.weight.copy_(torch.from_numpy(directions))
            self.decoder.weight.copy_(torch.from_numpy(directions.T))
            self.decoder.bias.zero_()
        self.encoder_extra = _zero_output_mlp(dim, hidden, code_dim) if hidden else None
        self.decoder_extra = _zero_output_mlp(code_dim, hidden, dim) if hidden else None

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        codes = self.encoder(inputs)
        return codes if self.encoder_extra is None else codes + self.encoder_extra(inputs)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        outputs = self.decoder(codes)
        return outputs if self.decoder_extra is None else outputs + self.decoder_extra(codes)


def _zero_output_mlp(input_dim: int, hidden: int, output_dim: int) -> torch.nn.Sequential:
    mlp = torch.nn.Sequential(torch.nn.Linear(input_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, output_dim))
    torch.nn.init.zeros_(mlp[2].weight)
    torch.nn.init.zeros_(mlp[2].bias)
    return mlp


def autoencoder_loss(
    reconstructed: torch.Tensor, original: torch.Tensor, magnitude_weight: float = 0.0
) -> torch.Tensor:
    """Mean of `1 - cosine` plus `magnitude_weight` times the squared relative error of the norms."""
    loss = 1.0 - torch.nn.functional.cosine_similarity(reconstructed, original, dim=-1, eps=1e-8)
    if magnitude_weight:
        norms = original.norm(dim=-1).clamp(min=1e-8)
        loss = loss + magnitude_weight * ((reconstructed.norm(dim=-1) - norms) / norms) ** 2
    return loss.mean()


def train_autoencoder(
    matrix: numpy.ndarray,
    code_dim: int,
    hidden: int,
    epochs: int,
    magnitude_weight: float,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> Dict[str, numpy.ndarray]:
    """
    Trains the autoencoder on the centred, scaled rows (codes rounded to float16
    in the forward pass, straight-through) and returns the float16 codes and the
    decoder folded back to the original scale: `codes`, `basis`, `mean` and, with
    `hidden`, `hidden_weight`, `hidden_bias` and `output_weight`.  The options are
    `CompressionSettings`' of the same names (which has their defaults).
    """
    mean, directions, scale = principal_directions(matrix, code_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _Autoencoder(directions.astype(numpy.float32), hidden)
        shift = torch.from_numpy(mean / scale).float()
        inputs = torch.from_numpy(matrix.astype(numpy.float32)) / scale - shift
        _fit(model, inputs, shift, epochs, magnitude_weight, batch_size, learning_rate)
    return _export(model, inputs, mean, scale)


def _fit(model: _Autoencoder, inputs: torch.Tensor, shift: torch.Tensor, epochs: int, magnitude_weight: float,
         batch_size: int, learning_rate: float) -> None:
    """Trains on the centred rows `inputs`; the loss compares `inputs + shift`, the (scaled) rows themselves."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps_per_epoch = -(-len(inputs) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                                   total_steps=epochs * steps_per_epoch, pct_start=0.1)
    progress = Tqdm.tqdm(range(epochs * steps_per_epoch), desc="training the autoencoder")
    batches = _batches(len(inputs), batch_size, epochs)
    for _, rows in zip(progress, batches):
        codes = model.encode(inputs[rows])
        codes = codes + (codes.half().float() - codes).detach()  # float16 codes, straight-through
        loss = autoencoder_loss(model.decode(codes) + shift, inputs[rows] + shift, magnitude_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        progress.set_postfix(loss=f"{loss.item():.4f}", refresh=False)


def _batches(num_rows: int, batch_size: int, epochs: int) -> Iterator[torch.Tensor]:
    for _ in range(epochs):
        order = torch.randperm(num_rows)
        yield from order.split(batch_size)


@torch.no_grad()
def _export(model: _Autoencoder, inputs: torch.Tensor, mean: numpy.ndarray, scale: float) -> Dict[str, numpy.ndarray]:
    codes = torch.cat([model.encode(chunk) for chunk in inputs.split(CHUNK_ROWS)]).clamp(-65504, 65504)
    arrays = {
        "codes": codes.half().numpy(),
        "basis": model.decoder.weight.t().double().numpy() * scale,
        "mean": mean + model.decoder.bias.double().numpy() * scale,
    }
    if model.decoder_extra is not None:
        first, last = model.decoder_extra[0], model.decoder_extra[2]
        arrays["hidden_weight"] = first.weight.t().numpy()
        arrays["hidden_bias"] = first.bias.numpy()
        arrays["output_weight"] = last.weight.t().double().numpy() * scale
        arrays["mean"] = arrays["mean"] + last.bias.double().numpy() * scale
    return {name: array.astype(numpy.float16 if name == "codes" else numpy.float32) for name, array in arrays.items()}
