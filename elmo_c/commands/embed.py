"""
The `elmo-c-embed` subcommand: ELMo-C's contextual vectors for every sentence of a
file, written to HDF5 (like AllenNLP 0.x's `allennlp elmo` command).

```
allennlp elmo-c-embed ARCHIVE INPUT_FILE OUTPUT_FILE.hdf5 [--batch-size 64] [--cuda-device -1] [--layers all]
```

`INPUT_FILE` holds one sentence per line, already tokenised: tokens are separated
by whitespace.  Line `i` (counting from 0) becomes the dataset `str(i)`, of shape
`(num_layers, num_tokens, 2 * projection_dim)` with `--layers all` (the input
layer, duplicated to both directions, then each LSTM layer), or
`(num_tokens, 2 * projection_dim)` with `--layers top` (the top LSTM layer) or
`--layers average` (the mean of all layers).  Sentence boundaries are added
around each sentence, as in training, and have no vectors in the output.

Lines are never truncated nor split: each runs whole through the biLM, however
long, so every token gets a vector with the context of its whole line (memory
grows with the longest line of a batch).  This differs from the `elmo_c_embedder`
predictor only for sentences longer than the reader's `max_sequence_length`,
which it embeds in overlapping windows.

An empty (or all-whitespace) line gets a dataset with 0 tokens, so that the keys
stay the line numbers; a warning counts them.  The output is written to a
temporary file next to it and renamed at the end, so a crash never leaves a
half-written file.
"""
import argparse
import logging
import os
import warnings
from typing import Iterator, List, Tuple

import numpy
import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError, check_for_gpu
from allennlp.common.tqdm import Tqdm
from allennlp.common.util import lazy_groups_of
from allennlp.modules.elmo import batch_to_ids

from elmo_c.commands.export_elmo import check_output_dir, write_failure
from elmo_c.common.atomic import atomic_output_path
from elmo_c.models.archive_loading import PretrainedBiLm

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning)
    import h5py

logger = logging.getLogger(__name__)

LAYER_CHOICES = ("all", "top", "average")


@Subcommand.register("elmo-c-embed")
class ElmoCEmbed(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Write ELMo-C's contextual vectors for every line (one whitespace-tokenised sentence) "
            "of a file to an HDF5 file, one dataset per line keyed by its number from 0."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="the model.tar.gz of an ELMo-C model")
        subparser.add_argument("input_file", metavar="INPUT_FILE", help="one tokenised sentence per line")
        subparser.add_argument("output_file", metavar="OUTPUT_FILE", help="the HDF5 file to write")
        subparser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
        subparser.add_argument("--cuda-device", type=int, default=-1, help="GPU to run on (-1: CPU)")
        subparser.add_argument(
            "--layers",
            choices=LAYER_CHOICES,
            default="all",
            help="every layer, the top LSTM layer, or the mean of all layers",
        )
        subparser.set_defaults(func=embed_file_from_args)
        return subparser


def embed_file_from_args(args: argparse.Namespace) -> int:
    """Entry point of the `elmo-c-embed` subcommand."""
    return embed_file(
        args.archive_file,
        args.input_file,
        args.output_file,
        batch_size=args.batch_size,
        cuda_device=args.cuda_device,
        layers=args.layers,
    )


def embed_file(
    archive_file: str,
    input_file: str,
    output_file: str,
    batch_size: int = 64,
    cuda_device: int = -1,
    layers: str = "all",
) -> int:
    """
    Writes every sentence's vectors to `output_file` (see the module's docstring).

    # Parameters

    archive_file : `str`
        A `continuous_output_language_model` archive with the `characters` input layer.
    input_file : `str`
        One whitespace-tokenised sentence per line, UTF-8.
    output_file : `str`
        The HDF5 file to write (replaced if it exists); its folder is created if
        needed, and `ConfigurationError` names it if it cannot be written.  An
        `OSError` while writing (a full disk) leaves any older file as it was.
    batch_size : `int`, optional (default = `64`)
    cuda_device : `int`, optional (default = `-1`)
    layers : `str`, optional (default = `"all"`)
        `"all"`, `"top"` or `"average"`.

    # Returns

    The number of lines written.
    """
    if layers not in LAYER_CHOICES:
        raise ConfigurationError(f"layers must be one of {', '.join(LAYER_CHOICES)}, not {layers!r}")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
    num_lines = _count_lines(input_file)
    _check_output_file(output_file)
    check_for_gpu(cuda_device)
    device = torch.device("cuda", cuda_device) if cuda_device >= 0 else torch.device("cpu")
    bilm = PretrainedBiLm.from_archive(archive_file).to(device)
    try:
        num_empty = _write_vectors(bilm, input_file, output_file, num_lines, batch_size, layers, device)
    except OSError as error:
        raise write_failure(output_file, error) from error
    if num_empty:
        logger.warning("%d empty lines of %s got datasets with 0 tokens", num_empty, input_file)
    logger.info("Wrote the vectors of %d sentences to %s", num_lines, output_file)
    return num_lines


def _write_vectors(
    bilm: PretrainedBiLm,
    input_file: str,
    output_file: str,
    num_lines: int,
    batch_size: int,
    layers: str,
    device: torch.device,
) -> int:
    """Writes the HDF5 file atomically; returns the number of empty lines."""
    num_empty = 0
    progress = Tqdm.tqdm(total=num_lines, desc="embedding sentences")
    with atomic_output_path(output_file) as temporary, h5py.File(temporary, "w") as output, progress:
        for batch in lazy_groups_of(_tokenised_lines(input_file), batch_size):
            for line_number, vectors in _embed_batch(bilm, batch, layers, device):
                output.create_dataset(str(line_number), data=vectors)
            num_empty += sum(1 for _, tokens in batch if not tokens)
            progress.update(len(batch))
    return num_empty


def _check_output_file(output_file: str) -> None:
    if os.path.isdir(output_file):
        raise ConfigurationError(f"The output {output_file} is a folder: give the name of the HDF5 file to write")
    check_output_dir(os.path.dirname(os.path.abspath(output_file)))


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as stream:
            return sum(1 for _ in stream)
    except OSError as error:
        raise ConfigurationError(f"Cannot read the input file {path}: {error.strerror}") from None


def _tokenised_lines(path: str) -> Iterator[Tuple[int, List[str]]]:
    with open(path, "rb") as stream:
        for line_number, raw in enumerate(stream):
            try:
                yield line_number, raw.decode("utf-8").split()
            except UnicodeDecodeError as error:
                raise ConfigurationError(
                    f"{path}, line {line_number + 1}, is not valid UTF-8 ({error.reason}): re-encode it"
                ) from None


@torch.no_grad()
def _embed_batch(
    bilm: PretrainedBiLm, batch: List[Tuple[int, List[str]]], layers: str, device: torch.device
) -> Iterator[Tuple[int, numpy.ndarray]]:
    """`(line number, vectors)` for each line of the batch, empty ones included."""
    sentences = [tokens for _, tokens in batch if tokens]
    per_sentence = iter(_sentence_vectors(bilm, sentences, layers, device) if sentences else [])
    empty_shape = (bilm.num_layers, 0, bilm.get_output_dim()) if layers == "all" else (0, bilm.get_output_dim())
    for line_number, tokens in batch:
        yield line_number, next(per_sentence) if tokens else numpy.zeros(empty_shape, dtype=numpy.float32)


def _sentence_vectors(
    bilm: PretrainedBiLm, sentences: List[List[str]], layers: str, device: torch.device
) -> List[numpy.ndarray]:
    outputs, mask = PretrainedBiLm.remove_boundaries(*bilm(batch_to_ids(sentences).to(device)))
    stacked = torch.stack(outputs, dim=1)  # (batch, num_layers, num_tokens, dim)
    if layers == "top":
        stacked = stacked[:, -1]
    elif layers == "average":
        stacked = stacked.mean(dim=1)
    stacked = stacked.cpu().numpy()
    lengths = mask.sum(dim=1).tolist()
    return [vectors[..., :length, :] for vectors, length in zip(stacked, lengths)]
