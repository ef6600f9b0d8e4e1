"""
The `compress-targets` subcommand: compresses a table of target vectors into one
compact, self-describing file that the `compressed` `TargetEmbeddings` type
decodes a batch at a time.

```
allennlp compress-targets INPUT OUTPUT.ctt [--type fasttext|text|npy] [--words-path W] [--vocabulary V]
    [--method subspace|autoencoder|svd] [--groups G --centroids K --iterations I --kmeans-sample S]
    [--stages N --beam B --normalize --rotate --centroid-dtype float32|float16]
    [--exact-rows N] [--code-dim k --hidden H --epochs E --magnitude-weight W --batch-size B --lr LR]
    [--seed 0] [--threads T] [--neighbour-sample 1000]
```

The input is read as the matching `TargetEmbeddings` type reads it (`--type`
defaults to the file name's: `.bin` FastText, `.npy` matrix + words file, else
text).  Without `--vocabulary` every word of the file is kept (a FastText model's
dictionary); with it, the words listed (one per line, e.g. a serialization
directory's `vocabulary/tokens.txt`), with subword or lowercased vectors as at
training time.  Words without a vector are left out.

Methods:

- `subspace` (product quantisation): the dimensions are split into G groups and
  each group is k-means clustered into K centroids; a row is G one-byte codes.
  Options: `--stages N` quantises what is left (the residual) N - 1 more times with
  codebooks of its own (a row is N * G codes, decoded as the sum of the stages),
  `--beam B` then picks each row's codes by a beam search over the stages instead
  of stage by stage; `--normalize` quantises the rows' directions (unit vectors)
  and drops their norms, which ELMo-C's cosine loss and top-k metric ignore (the
  vMF loss would take the decoded vectors as unit targets); `--rotate` first
  rotates the rows onto their principal directions, dealt to the groups so that
  each gets a similar share of the variance (as optimized product quantisation
  does), and stores the `dim x dim` rotation; `--centroid-dtype float16` halves
  the codebooks (and the rotation).
- `svd`: the top k principal directions (truncated SVD of the centred table); a
  row is k float16 codes.  The baseline.
- `autoencoder`: an encoder d -> k and a decoder k -> d (linear, initialised as
  the SVD, plus a tanh layer of H units), trained on the cosine between each
  vector and its reconstruction (only directions matter to ELMo-C's losses), with
  an optional term on the norms.  A row is k float16 codes; only the decoder is
  kept.

With any method, `--exact-rows N` stores the first N rows uncompressed (float16;
unit rows with `--normalize`) and compresses the others.  FastText, GloVe and
word2vec files and AllenNLP vocabularies list words by frequency, so these are the
most frequent words: on the Penn Treebank the first 128 rows are 55% of the
tokens, and their targets are then exact.

The output is written atomically, then read back and compared with the input: a
fidelity report (sizes, cosine between each vector and its reconstruction,
agreement of the top-10 nearest neighbours of sampled words, times) is printed
and saved as `OUTPUT.report.json`.
"""

import argparse
from collections import Counter
import copy
import json
import logging
import math
import os
import struct
import time
import zlib
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Vocabulary

from elmo_c.common.atomic import atomic_output_path
from elmo_c.data.counted_vocabulary import CountedVocabulary
from elmo_c.data.target_embeddings import FastTextTargetEmbeddings, NpyTargetEmbeddings, TargetEmbeddings
from elmo_c.data.target_embeddings.compressed import METHODS, CompressedTargetFile, write_compressed_targets
from elmo_c.data.target_embeddings.target_embeddings import MISSING
from elmo_c.data.target_embeddings.text import _is_header, _open

logger = logging.getLogger(__name__)

INPUT_TYPES = ("fasttext", "text", "npy")
CENTROID_DTYPES = ("float32", "float16")
_NAMESPACE = "compress_targets"
_CHUNK_ROWS = 65536
_NEIGHBOURS = 10
_DECODE_BATCH = 1280
_BEAM_CHUNK_ROWS = 8192


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@Subcommand.register("compress-targets")
class CompressTargets(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Compress a table of target vectors (subspace k-means, a cosine autoencoder or truncated SVD) "
            "into one file for the `compressed` target embeddings, and report its fidelity."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        add = subparser.add_argument
        add("input", metavar="INPUT", help="the vectors: a FastText .bin, a .npy matrix or a text .vec/GloVe file")
        add("output", metavar="OUTPUT.ctt", help="where to write the compressed table")
        add("--type", dest="input_type", choices=INPUT_TYPES, default=None,
            help="the input's format (default: from its name: .bin fasttext, .npy npy, else text)")
        add("--words-path", default=None, help="the words of a .npy matrix (default: INPUT with .words.txt)")
        add("--vocabulary", default=None,
            help="compress only these words: a file with one per line, or a `counted` vocabulary directory "
                 "(e.g. a trained model's vocabulary/; needed by --centre frequency) (default: the file's words)")
        add("--centre", choices=("uniform", "frequency"), default=None,
            help="normalise, centre and normalise again first, as the training configs do (frequency: weighted "
                 "by the counts of a --vocabulary directory)")
        add("--remove-principal-directions", type=int, default=0,
            help="with --centre: also remove this many top principal directions")
        add("--method", choices=METHODS, default="subspace", help="compression method")
        add("--groups", type=int, default=None, help="subspace: groups of dimensions (default: ~5 dims each)")
        add("--centroids", type=int, default=256, help="subspace: k-means centroids per group (<= 256: 1 byte)")
        add("--iterations", type=int, default=5, help="subspace: k-means passes over the sample")
        add("--kmeans-sample", type=int, default=65536, help="subspace: rows k-means is fitted on")
        add("--stages", type=int, default=1, help="subspace: residual quantisation stages (codes per row: G each)")
        add("--beam", type=int, default=1, help="subspace: beam width of the search for the codes over the stages")
        add("--normalize", action="store_true",
            help="subspace: quantise unit vectors: directions only (the cosine loss ignores norms; they are lost)")
        add("--rotate", action="store_true",
            help="subspace: rotate onto the principal directions, balancing their variance across groups")
        add("--centroid-dtype", choices=CENTROID_DTYPES, default="float32",
            help="subspace: how centroids (and the rotation) are stored")
        add("--exact-rows", type=int, default=0,
            help="keep the first N rows (the most frequent words in frequency-ordered tables) uncompressed, float16")
        add("--code-dim", type=int, default=None, help="svd/autoencoder: code size k (default: dim / 10)")
        add("--hidden", type=int, default=256, help="autoencoder: tanh units beside the linear map (0: none)")
        add("--epochs", type=int, default=5, help="autoencoder: training epochs")
        add("--magnitude-weight", type=float, default=0.0, help="autoencoder: weight of the norm term")
        add("--batch-size", type=int, default=1024, help="autoencoder: rows per step")
        add("--lr", type=float, default=1e-3, help="autoencoder: peak learning rate")
        add("--seed", type=int, default=0, help="random seed")
        add("--threads", type=int, default=None, help="CPU threads (default: all cores)")
        add("--neighbour-sample", type=int, default=1000, help="words whose top-10 neighbours are compared (0: skip)")
        subparser.set_defaults(func=compress_targets_from_args)
        return subparser


def compress_targets_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """Entry point of the `compress-targets` subcommand."""
    names = ["method", "groups", "centroids", "iterations", "kmeans_sample", "stages", "beam", "normalize", "rotate"]
    names += ["centroid_dtype", "exact_rows", "code_dim", "hidden", "epochs"]
    names += ["magnitude_weight", "batch_size", "seed"]
    settings = {name: getattr(args, name) for name in names}
    return compress_targets(
        args.input, args.output, input_type=args.input_type, words_path=args.words_path,
        vocabulary_path=args.vocabulary, threads=args.threads, neighbour_sample=args.neighbour_sample,
        learning_rate=args.lr, centre=args.centre, remove_principal_directions=args.remove_principal_directions,
        **settings,
    )


def compress_targets(
    input_path: str,
    output_path: str,
    input_type: Optional[str] = None,
    words_path: Optional[str] = None,
    vocabulary_path: Optional[str] = None,
    threads: Optional[int] = None,
    neighbour_sample: int = 1000,
    centre: Optional[str] = None,
    remove_principal_directions: int = 0,
    **settings: Any,
) -> Dict[str, Any]:
    """
    Reads a table of vectors, compresses it into `output_path` and reports its fidelity.

    # Parameters

    input_path : `str`
        A FastText `.bin`, a `.npy` matrix (with its words file) or a text `.vec` / GloVe file.
    output_path : `str`
        The compressed table (conventionally `*.ctt`); the report goes to `output_path + ".report.json"`.
    input_type : `str`, optional (default = from the file name)
        `"fasttext"`, `"text"` or `"npy"`.
    words_path : `str`, optional (default = `None`)
        The words of a `.npy` input (default: its name with `.words.txt`).
    vocabulary_path : `str`, optional (default = `None`)
        Compress only these words (a file with one per line, or a vocabulary
        directory) instead of all the file's.
    threads : `int`, optional (default = all cores)
        See `compress_table`.
    neighbour_sample : `int`, optional (default = `1000`)
        See `compress_table`.
    centre : `str`, optional (default = `None`)
        `"uniform"` or `"frequency"`: the vectors are normalised, centred and
        normalised again before compression (`TargetEmbeddings`' options of the same
        names); frequency weights need a `counted` vocabulary directory.
    remove_principal_directions : `int`, optional (default = `0`)
        With `centre`, also remove this many top principal directions.
    **settings
        The method and its options: see `CompressionSettings`.

    # Returns

    `Dict[str, Any]`
        The fidelity report.
    """
    compression = CompressionSettings(**settings)
    _check_run(threads, neighbour_sample, output_path)
    start = time.time()
    words, matrix = read_input_vectors(
        input_path, input_type, words_path, vocabulary_path, centre, remove_principal_directions
    )
    report = compress_table(words, matrix, output_path, compression, threads, neighbour_sample, input_path)
    report.update(input=input_path, total_seconds=round(time.time() - start, 2))
    _write_report(output_path + ".report.json", report)
    print(format_report(report), flush=True)
    return report


def compress_table(
    words: List[str],
    matrix: numpy.ndarray,
    output_path: str,
    settings: "CompressionSettings",
    threads: Optional[int] = None,
    neighbour_sample: int = 1000,
    source_name: str = "the table",
) -> Dict[str, Any]:
    """
    Compresses the rows of `matrix` (the vectors of `words`), writes them
    atomically to `output_path`, reads the file back and compares it with `matrix`.

    # Parameters

    words : `List[str]`
    matrix : `numpy.ndarray`
        `(len(words), dim)` float32.
    output_path : `str`
    settings : `CompressionSettings`
    threads : `int`, optional (default = all cores)
        CPU threads for k-means, BLAS and torch.  On a machine busy with other work,
        1 is often much faster: their threads spin while waiting for each other.
    neighbour_sample : `int`, optional (default = `1000`)
        Words whose 10 nearest neighbours are compared (0 skips the comparison).
    source_name : `str`, optional (default = `"the table"`)
        What error messages call the table (e.g. its file).

    # Returns

    `Dict[str, Any]`
        The fidelity report (see `fidelity_report`), with the method, its options and the time taken.
    """
    threads = _default_threads() if threads is None else threads
    _check_run(threads, neighbour_sample, output_path)
    settings = settings.resolved(matrix.shape, source_name)
    with _thread_limit(threads):
        start = time.time()
        arrays, options = settings.compress(matrix)
        compress_seconds = time.time() - start
        write_compressed_targets(output_path, settings.method, words, matrix.shape[1], arrays, options)
        # What the table encodes: with `normalize`, the centred cosine and the norm ratio compare directions.
        reference = settings.encoded_rows(matrix)
        report = fidelity_report(reference, CompressedTargetFile(output_path), neighbour_sample, settings.seed)
    report.update(output=output_path, method=settings.method, options=options,
                  compress_seconds=round(compress_seconds, 2))
    return report


def _check_run(threads: Optional[int], neighbour_sample: int, output_path: str) -> None:
    if threads is not None and threads < 1:
        raise ConfigurationError(f"--threads must be a positive integer, got {threads}")
    if neighbour_sample < 0:
        raise ConfigurationError(f"--neighbour-sample must be 0 or more, got {neighbour_sample}")
    if os.path.isdir(output_path):
        raise ConfigurationError(
            f"Output {output_path} is a directory: give a file name, e.g. {output_path}/targets.ctt"
        )
    directory = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise ConfigurationError(f"Cannot write {output_path}: {directory} is not a writable directory")


# -- reading the input ------------------------------------------------------------------


def read_input_vectors(
    path: str,
    input_type: Optional[str] = None,
    words_path: Optional[str] = None,
    vocabulary_path: Optional[str] = None,
    centre: Optional[str] = None,
    remove_principal_directions: int = 0,
) -> Tuple[List[str], numpy.ndarray]:
    """
    The words and float32 vectors to compress, read and checked as the matching
    `TargetEmbeddings` type reads them (words without a vector are left out).

    # Parameters

    path : `str`
    input_type : `str`, optional (default = from the file name)
        `"fasttext"`, `"text"` or `"npy"`.
    words_path : `str`, optional (default = `None`)
        The words of a `.npy` matrix.
    vocabulary_path : `str`, optional (default = `None`)
        The words to keep: a file with one per line, or a vocabulary directory (its
        `tokens`, with their counts if a `counted` vocabulary saved them) (default:
        all of the file's).
    centre, remove_principal_directions
        See `compress_targets`.
    """
    input_type = input_type or type_for_path(path)
    if input_type not in INPUT_TYPES:
        raise ConfigurationError(f"Unknown input type {input_type!r}: use one of {', '.join(INPUT_TYPES)}")
    file_words, dim = _file_words_and_dim(input_type, path, words_path, need_words=vocabulary_path is None)
    vocab = _reading_vocabulary(vocabulary_path, file_words, centre)
    extra = {"words_path": words_path} if input_type == "npy" else {}
    if centre:
        extra.update(centre=centre, normalize=True, remove_principal_directions=remove_principal_directions)
    reader = TargetEmbeddings.by_name(input_type)(vocab, path=path, embedding_dim=dim, namespace=_NAMESPACE, **extra)
    all_words, matrix, status = reader.read_table()
    keep = status != MISSING
    if keep.all():
        return all_words, matrix
    logger.info("Leaving out %d words without a vector", int((~keep).sum()))
    return [word for word, kept in zip(all_words, keep) if kept], matrix[keep]


def type_for_path(path: str) -> str:
    """The input type a file name suggests, as `training_config`'s `targets` helper picks it."""
    if path.endswith(".bin"):
        return "fasttext"
    return "npy" if path.endswith(".npy") else "text"


def _reading_vocabulary(vocabulary_path: Optional[str], file_words: List[str], centre: Optional[str]) -> Vocabulary:
    """The words to read, in a vocabulary of their own namespace (with their counts if known)."""
    counts = None
    if vocabulary_path and os.path.isdir(vocabulary_path):
        source = CountedVocabulary.from_files(vocabulary_path)
        measured = [i for i in range(source.get_vocab_size()) if source.get_token_from_index(i) not in
                    (source._padding_token, source._oov_token)]
        words = [source.get_token_from_index(i) for i in measured]
        all_counts = source.counts("tokens")
        counts = None if all_counts is None else all_counts[measured]
    else:
        words = read_word_list(vocabulary_path) if vocabulary_path else file_words
    if centre == "frequency" and counts is None:
        raise ConfigurationError(
            "--centre frequency needs word counts: give --vocabulary the vocabulary directory of a model trained "
            "with the `counted` vocabulary (its serialization directory's vocabulary/), or use --centre uniform"
        )
    vocab = CountedVocabulary(non_padded_namespaces=[_NAMESPACE])
    vocab.add_tokens_to_namespace(words, _NAMESPACE)
    if counts is not None:
        vocab._token_counts[_NAMESPACE] = Counter(dict(zip(words, counts.tolist())))
    return vocab


def read_word_list(path: str) -> List[str]:
    """Words, one per line (UTF-8; split on newlines only); blank lines are skipped."""
    if not os.path.isfile(path):
        raise ConfigurationError(f"Vocabulary file {path} does not exist: give a file with one word per line")
    try:
        with open(path, encoding="utf-8") as stream:
            words = [word for word in stream.read().split("\n") if word]
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{path} is not valid UTF-8 ({error.reason}): re-encode it") from None
    if not words:
        raise ConfigurationError(f"Vocabulary file {path} lists no words")
    return words


def _file_words_and_dim(
    input_type: str, path: str, words_path: Optional[str], need_words: bool
) -> Tuple[List[str], int]:
    if input_type == "npy":
        # The npy type's own checks (missing, truncated, word count).
        reader = NpyTargetEmbeddings(Vocabulary(), path=path, words_path=words_path, embedding_dim=1)
        matrix = reader._load_matrix()
        return reader._load_words(len(matrix)), int(matrix.shape[1])
    if input_type == "text":
        return _text_words_and_dim(path)
    reader = FastTextTargetEmbeddings(Vocabulary(), path=path, embedding_dim=1)
    reader._check_header()
    if need_words:
        model = reader._load_model()
        return model.get_words(include_freq=False), model.get_dimension()
    with open(path, "rb") as stream:
        return [], struct.unpack("<i", stream.read(12)[8:])[0]  # the first argument after magic and version


def _text_words_and_dim(path: str) -> Tuple[List[str], int]:
    """
    The words of a text vector file and the dimension of its first vector.  A
    corrupt file is left for the text type's parser to report, with its line.
    """
    if not os.path.isfile(path):
        raise ConfigurationError(f"Target vector file {path} does not exist: check the path")
    words: List[str] = []
    dim = 0
    try:
        with _open(path) as stream:
            for number, raw in enumerate(Tqdm.tqdm(stream, desc=f"listing the words of {os.path.basename(path)}"), 1):
                fields = raw.decode("utf-8-sig" if number == 1 else "utf-8", "replace").rstrip().split(" ")
                if number == 1 and _is_header(fields):
                    dim = int(fields[1])
                elif fields != [""]:
                    words.append(fields[0])
                    dim = dim or len(fields) - 1
    except (EOFError, OSError, zlib.error) as error:
        logger.debug("Stopped listing the words of %s: %s", path, error)
    if not words:
        raise ConfigurationError(f"Target vector file {path} holds no vectors")
    return words, max(dim, 1)


# -- the methods --------------------------------------------------------------------------


class CompressionSettings(FromParams):
    """
    A compression method and its options (checked against the table by `check`).

    # Parameters

    method : `str`, optional (default = `"subspace"`)
        `"subspace"`, `"svd"` or `"autoencoder"`.
    groups : `int`, optional (default = the divisor of the dimension closest to dimension / 5)
        `subspace`: groups of dimensions, one code each per row.
    centroids : `int`, optional (default = `256`)
        `subspace`: centroids per group; up to 256 gives uint8 codes, up to 65536 uint16.
    iterations : `int`, optional (default = `5`)
        `subspace`: passes of mini-batch k-means over the sample.
    kmeans_sample : `int`, optional (default = `65536`)
        `subspace`: rows k-means is fitted on (every row is then assigned).
    stages : `int`, optional (default = `1`)
        `subspace`: residual quantisation: each stage after the first quantises what
        the previous ones left, with codebooks of its own; a row has `stages * groups`
        codes and decodes as the sum of its stages' centroids.
    beam : `int`, optional (default = `1`)
        `subspace`: once the stages are fitted, each row's codes are chosen by a beam
        search of this width over the stages and groups (1: greedily, one at a time).
    normalize : `bool`, optional (default = `False`)
        `subspace`: quantise the rows divided by their norms.  The table then holds
        directions only (decoded vectors have about unit norm): enough for ELMo-C's
        cosine loss and top-k metric, which ignore norms (the vMF loss would use unit
        targets).
    rotate : `bool`, optional (default = `False`)
        `subspace`: rotate the rows onto their principal directions before splitting
        them into groups, the directions dealt so that the groups' variances are
        balanced (optimized product quantisation's eigenvalue allocation); the
        `dim x dim` rotation is stored (and counted in the size).
    centroid_dtype : `str`, optional (default = `"float32"`)
        `subspace`: `"float32"` or `"float16"` (half the size of the codebooks and
        the rotation; the codes are chosen for the rounded values).
    exact_rows : `int`, optional (default = `0`)
        Any method: the first `exact_rows` rows are stored as they are (float16; their
        directions with `normalize`) and only the others are compressed.  In tables
        ordered by frequency these are the most frequent words, which are most of the
        targets.
    code_dim : `int`, optional (default = dimension / 10)
        `svd` / `autoencoder`: float16 codes per row.
    hidden : `int`, optional (default = `256`)
        `autoencoder`: tanh units added to the linear encoder and decoder (0: linear).
    epochs : `int`, optional (default = `5`)
        `autoencoder`: training epochs.
    magnitude_weight : `float`, optional (default = `0.0`)
        `autoencoder`: weight of the squared relative error of the norms in the loss
        (without it the norms drift: only directions are trained).
    batch_size : `int`, optional (default = `1024`)
        `autoencoder`: rows per step.
    learning_rate : `float`, optional (default = `1e-3`)
        `autoencoder`: peak learning rate of Adam (one-cycle schedule).
    seed : `int`, optional (default = `0`)
        Seeds k-means, the autoencoder and the words sampled for the report.
    """

    def __init__(
        self,
        method: str = "subspace",
        groups: Optional[int] = None,
        centroids: int = 256,
        iterations: int = 5,
        kmeans_sample: int = 65536,
        stages: int = 1,
        beam: int = 1,
        normalize: bool = False,
        rotate: bool = False,
        centroid_dtype: str = "float32",
        exact_rows: int = 0,
        code_dim: Optional[int] = None,
        hidden: int = 256,
        epochs: int = 5,
        magnitude_weight: float = 0.0,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ConfigurationError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}")
        self.method, self.groups, self.centroids, self.iterations = method, groups, centroids, iterations
        self.kmeans_sample, self.code_dim, self.hidden, self.epochs = kmeans_sample, code_dim, hidden, epochs
        self.stages, self.beam, self.normalize, self.rotate = stages, beam, normalize, rotate
        self.centroid_dtype, self.exact_rows = centroid_dtype, exact_rows
        self.magnitude_weight, self.batch_size, self.learning_rate = magnitude_weight, batch_size, learning_rate
        self.seed = seed
        self._check_flags()

    def _check_flags(self) -> None:
        positive = {"--iterations": self.iterations, "--kmeans-sample": self.kmeans_sample, "--stages": self.stages,
                    "--beam": self.beam, "--epochs": self.epochs, "--batch-size": self.batch_size}
        for flag, value in positive.items():
            if value < 1:
                raise ConfigurationError(f"{flag} must be a positive integer, got {value}")
        if not 2 <= self.centroids <= 65536:
            raise ConfigurationError(
                f"--centroids must be between 2 and 65536 (codes are uint8 up to 256, uint16 above), "
                f"got {self.centroids}"
            )
        if self.exact_rows < 0:
            raise ConfigurationError(f"--exact-rows must be 0 or more, got {self.exact_rows}")
        if self.centroid_dtype not in CENTROID_DTYPES:
            raise ConfigurationError(
                f"--centroid-dtype must be one of {', '.join(CENTROID_DTYPES)}, got {self.centroid_dtype!r}"
            )
        if self.hidden < 0 or self.magnitude_weight < 0 or not self.learning_rate > 0:
            raise ConfigurationError(
                f"--hidden and --magnitude-weight must be 0 or more and --lr positive, got {self.hidden}, "
                f"{self.magnitude_weight} and {self.learning_rate}"
            )

    def resolved(self, shape: Tuple[int, int], source_name: str) -> "CompressionSettings":
        """A copy with the defaults that depend on the table filled in, checked against it."""
        resolved = copy.copy(self)
        resolved._check_table(shape, source_name)
        return resolved

    def _check_table(self, shape: Tuple[int, int], source_name: str) -> None:
        num_rows, dim = shape
        if self.exact_rows >= num_rows:
            raise ConfigurationError(
                f"--exact-rows {self.exact_rows} leaves nothing to compress of the {num_rows} vectors of "
                f"{source_name}: use fewer"
            )
        num_rows -= self.exact_rows
        if self.method == "subspace":
            self.groups = self.groups or _closest_divisor(dim, dim / 5)
            if self.groups < 1 or dim % self.groups:
                divisors = ", ".join(str(n) for n in _divisors(dim))
                raise ConfigurationError(
                    f"--groups {self.groups} does not divide the dimension {dim} of {source_name}: "
                    f"use one of {divisors}"
                )
            if self.centroids > num_rows:
                compressed = f"{num_rows} compressed" if self.exact_rows else str(num_rows)
                raise ConfigurationError(
                    f"--centroids {self.centroids} is more than the {compressed} vectors of {source_name}: "
                    f"use at most {num_rows}"
                )
        else:
            self.code_dim = self.code_dim or max(1, dim // 10)
            if not 1 <= self.code_dim <= dim:
                raise ConfigurationError(
                    f"--code-dim must be between 1 and the dimension {dim} of {source_name}, got {self.code_dim}"
                )

    def encoded_rows(self, matrix: numpy.ndarray) -> numpy.ndarray:
        """The rows the method encodes: `matrix`, or its unit rows with `subspace` and `normalize`."""
        return _unit(matrix) if self.method == "subspace" and self.normalize else matrix

    def compress(self, matrix: numpy.ndarray) -> Tuple[Dict[str, numpy.ndarray], Dict[str, Any]]:
        """The arrays to store and the options to record."""
        arrays, options = self._compress_rows(matrix[self.exact_rows :])
        if self.exact_rows:
            arrays["exact"] = self.encoded_rows(matrix[: self.exact_rows]).astype(numpy.float16)
            options["exact_rows"] = self.exact_rows
        return arrays, options

    def _compress_rows(self, matrix: numpy.ndarray) -> Tuple[Dict[str, numpy.ndarray], Dict[str, Any]]:
        if self.method == "subspace":
            options = dict(groups=self.groups, centroids=self.centroids, iterations=self.iterations,
                           kmeans_sample=self.kmeans_sample, stages=self.stages, beam=self.beam,
                           normalize=self.normalize, rotate=self.rotate, centroid_dtype=self.centroid_dtype,
                           seed=self.seed)
            kmeans = dict(centroids=self.centroids, iterations=self.iterations, sample=self.kmeans_sample,
                          seed=self.seed, dtype=self.centroid_dtype)
            return subspace_quantise(self.encoded_rows(matrix), self.groups, self.stages, self.beam, self.rotate, **kmeans), options
        if self.method == "svd":
            return truncated_svd(matrix, self.code_dim), dict(code_dim=self.code_dim)
        options = dict(code_dim=self.code_dim, hidden=self.hidden, epochs=self.epochs,
                       magnitude_weight=self.magnitude_weight, batch_size=self.batch_size,
                       learning_rate=self.learning_rate, seed=self.seed)
        arrays = train_autoencoder(matrix, self.code_dim, self.hidden, self.epochs, self.magnitude_weight,
                                   self.batch_size, self.learning_rate, self.seed)
        return arrays, options


def _divisors(number: int) -> List[int]:
    return [n for n in range(1, number + 1) if number % n == 0]


def _closest_divisor(number: int, target: float) -> int:
    return min(_divisors(number), key=lambda n: (abs(n - target), n))


def subspace_quantise(
    matrix: numpy.ndarray,
    groups: int,
    stages: int = 1,
    beam: int = 1,
    rotate: bool = False,
    **kmeans: Any,
) -> Dict[str, numpy.ndarray]:
    """
    Product quantisation, in `stages` residual stages, optionally of the rows
    rotated by `balanced_rotation`.  Returns `codes` `(rows, stages * groups)`
    (uint8, or uint16 above 256 centroids), `centroids`
    `(stages, groups, centroids, dim / groups)` and, with `rotate`, `rotation`
    `(dim, dim)` (the rows quantised are `matrix @ rotation`), both of `dtype`.

    # Parameters

    matrix : `numpy.ndarray`
        `(rows, dim)`.
    groups : `int`
        Groups of `dim / groups` dimensions (it must divide `dim`).
    stages : `int`, optional (default = `1`)
    beam : `int`, optional (default = `1`)
        With more than one, each row's codes are then chosen again by `beam_search_codes`.
    rotate : `bool`, optional (default = `False`)
    **kmeans
        `centroids`, `iterations`, `sample`, `seed` and `dtype`: see `fit_stages`.
    """
    rows = numpy.array(matrix, dtype=numpy.float32)
    arrays = {}
    if rotate:
        arrays["rotation"] = balanced_rotation(rows, groups).astype(kmeans["dtype"])
        rows = rows @ arrays["rotation"].astype(numpy.float32)
    tables, codes = fit_stages(rows, groups, stages, **kmeans)
    if beam > 1 and stages > 1:  # the groups of one stage are independent: its nearest centroids are best
        codes = beam_search_codes(rows, tables, beam)
    code_type = numpy.uint8 if tables.shape[2] <= 256 else numpy.uint16
    arrays.update(codes=codes.astype(code_type), centroids=tables.astype(kmeans["dtype"]))
    return arrays


def fit_stages(
    rows: numpy.ndarray, groups: int, stages: int, centroids: int, iterations: int, sample: int, seed: int, dtype: str
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """
    Fits each stage's codebooks to what the previous stages leave of `rows`: the
    mini-batch k-means of each group of dimensions on `sample` rows, its centroids
    rounded to `dtype`, every row then assigned its nearest centroid.  Returns the
    centroids `(stages, groups, centroids, dim / groups)` float32 and the codes
    `(rows, stages * groups)`.
    """
    from sklearn.cluster import MiniBatchKMeans

    num_rows, dim = rows.shape
    width = dim // groups
    generator = numpy.random.default_rng(seed)
    residual = numpy.array(rows, dtype=numpy.float32)
    tables = numpy.empty((stages, groups, centroids, width), dtype=numpy.float32)
    codes = numpy.empty((num_rows, stages * groups), dtype=numpy.int64)
    for stage, group in Tqdm.tqdm(list(numpy.ndindex(stages, groups)), desc="k-means of each group"):
        columns = numpy.ascontiguousarray(residual[:, group * width : (group + 1) * width])
        fitted_rows = generator.choice(num_rows, size=min(sample, num_rows), replace=False)
        kmeans = MiniBatchKMeans(n_clusters=centroids, max_iter=iterations, batch_size=4096, n_init=1,
                                 random_state=seed + stage * groups + group, compute_labels=False)
        tables[stage, group] = kmeans.fit(columns[fitted_rows]).cluster_centers_.astype(dtype)
        nearest = codes[:, stage * groups + group] = _nearest_centroids(columns, tables[stage, group])
        residual[:, group * width : (group + 1) * width] -= tables[stage, group][nearest]
    return tables, codes


def beam_search_codes(rows: numpy.ndarray, tables: numpy.ndarray, beam: int) -> numpy.ndarray:
    """
    The codes `(rows, stages * groups)` of `rows` for the centroids `tables`
    `(stages, groups, centroids, width)`, chosen one stage's group at a time while
    keeping the `beam` partial choices with the least squared error (the first
    choices no longer have to be each stage's nearest centroid).
    """
    books = torch.from_numpy(numpy.ascontiguousarray(tables, dtype=numpy.float32))
    codes = numpy.empty((len(rows), tables.shape[0] * tables.shape[1]), dtype=numpy.int64)
    for start in Tqdm.tqdm(range(0, len(rows), _BEAM_CHUNK_ROWS), desc=f"beam search ({beam})"):
        chunk = torch.from_numpy(numpy.ascontiguousarray(rows[start : start + _BEAM_CHUNK_ROWS], dtype=numpy.float32))
        codes[start : start + len(chunk)] = _beam_search(chunk, books, beam).numpy()
    return codes


def _beam_search(rows: torch.Tensor, books: torch.Tensor, beam: int) -> torch.Tensor:
    stages, groups, num_centroids, width = books.shape
    squared_norms = (books * books).sum(dim=-1)
    residuals = rows[:, None, :]  # (rows, partial choices, dim)
    errors = torch.zeros((len(rows), 1))  # each choice's squared error, less that of the row
    codes = torch.zeros((len(rows), 1, 0), dtype=torch.long)
    for stage, group in numpy.ndindex(stages, groups):
        columns = slice(group * width, (group + 1) * width)
        scores = errors[:, :, None] - 2 * residuals[:, :, columns] @ books[stage, group].t()
        scores = (scores + squared_norms[stage, group]).flatten(1)
        errors, best = scores.topk(min(beam, scores.shape[1]), dim=1, largest=False)
        parents, chosen = best // num_centroids, best % num_centroids
        residuals = residuals.gather(1, parents[:, :, None].expand(-1, -1, residuals.shape[2])).clone()
        residuals[:, :, columns] -= books[stage, group][chosen]
        codes = torch.cat([codes.gather(1, parents[:, :, None].expand(-1, -1, codes.shape[2])), chosen[:, :, None]], 2)
    return codes[:, 0]


def balanced_rotation(matrix: numpy.ndarray, groups: int) -> numpy.ndarray:
    """
    The principal directions of the (centred) rows as the columns of a `(dim, dim)`
    float32 rotation, in an order that deals them to the groups of `dim / groups`
    columns so that the groups' products of variances are about equal: in order of
    decreasing variance, each direction goes to the group with the least product
    so far that has room (optimized product quantisation's eigenvalue allocation).
    """
    _, variances, directions = _principal_axes(matrix)
    width = len(variances) // groups
    logs = numpy.log(numpy.maximum(variances, 1e-30) / max(variances.min(), 1e-30)) + 1.0  # positive, increasing
    members: List[List[int]] = [[] for _ in range(groups)]
    loads = numpy.zeros(groups)
    for index, load in enumerate(logs):
        group = min((g for g in range(groups) if len(members[g]) < width), key=lambda g: loads[g])
        members[group].append(index)
        loads[group] += load
    return directions[[index for member in members for index in member]].T.astype(numpy.float32)


def _nearest_centroids(rows: numpy.ndarray, centroids: numpy.ndarray) -> numpy.ndarray:
    squared_norms = (centroids * centroids).sum(axis=1)
    nearest = numpy.empty(len(rows), dtype=numpy.int64)
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        nearest[start : start + len(chunk)] = numpy.argmin(squared_norms - 2.0 * chunk @ centroids.T, axis=1)
    return nearest


def _principal_axes(matrix: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The mean, the variances along the principal directions (decreasing) and those directions `(dim, dim)`."""
    mean = matrix.mean(axis=0, dtype=numpy.float64)
    covariance = numpy.zeros((matrix.shape[1],) * 2)
    for start in range(0, len(matrix), _CHUNK_ROWS):
        centred = matrix[start : start + _CHUNK_ROWS].astype(numpy.float64) - mean
        covariance += centred.T @ centred
    eigenvalues, eigenvectors = numpy.linalg.eigh(covariance / len(matrix))
    return mean, eigenvalues[::-1].clip(min=0), eigenvectors[:, ::-1].T


def _principal_directions(matrix: numpy.ndarray, code_dim: int) -> Tuple[numpy.ndarray, numpy.ndarray, float]:
    """The mean, the top `code_dim` principal directions `(code_dim, dim)` and the RMS norm of the centred rows."""
    mean, variances, directions = _principal_axes(matrix)
    return mean, directions[:code_dim], math.sqrt(max(float(variances.sum()), 1e-30))


def truncated_svd(matrix: numpy.ndarray, code_dim: int) -> Dict[str, numpy.ndarray]:
    """
    The projections of the centred rows on their top `code_dim` principal
    directions, scaled to about unit size for float16: `codes` `(rows, code_dim)`
    float16, `basis` `(code_dim, dim)` and `mean` `(dim,)` float32.
    """
    mean, directions, scale = _principal_directions(matrix, code_dim)
    codes = numpy.empty((len(matrix), code_dim), dtype=numpy.float16)
    for start in range(0, len(matrix), _CHUNK_ROWS):
        centred = matrix[start : start + _CHUNK_ROWS].astype(numpy.float64) - mean
        codes[start : start + len(centred)] = centred @ directions.T / scale
    return {"codes": codes, "basis": (directions * scale).astype(numpy.float32), "mean": mean.astype(numpy.float32)}


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
    hidden: int = 256,
    epochs: int = 5,
    magnitude_weight: float = 0.0,
    batch_size: int = 1024,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> Dict[str, numpy.ndarray]:
    """
    Trains the autoencoder on the centred, scaled rows (codes rounded to float16
    in the forward pass, straight-through) and returns the float16 codes and the
    decoder folded back to the original scale: `codes`, `basis`, `mean` and, with
    `hidden`, `hidden_weight`, `hidden_bias` and `output_weight`.
    """
    mean, directions, scale = _principal_directions(matrix, code_dim)
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
    codes = torch.cat([model.encode(chunk) for chunk in inputs.split(_CHUNK_ROWS)]).clamp(-65504, 65504)
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


@contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


# -- the fidelity report ------------------------------------------------------------------


def fidelity_report(
    original: numpy.ndarray, source: CompressedTargetFile, neighbour_sample: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """
    Compares a compressed table (decoded chunk by chunk) with the original rows:
    sizes, cosine between each row and its reconstruction (mean, 5th percentile,
    minimum; and its mean after subtracting the table's mean vector from both, which
    a table with a large common component, where every cosine is near 1, needs),
    the median ratio of their norms, the mean overlap of the top-10
    nearest neighbours (by cosine, among all rows) of `neighbour_sample` random
    rows, and the time to decode a batch of 1,280 random rows.
    """
    num_rows, dim = original.shape
    cosines, centred_cosines, norm_ratios = _row_fidelity(original, source)
    bytes_before = num_rows * dim * 4
    report: Dict[str, Any] = {
        "num_rows": num_rows,
        "dim": dim,
        "bytes_before": bytes_before,
        "bytes_after": source.payload_bytes,
        "file_bytes": os.path.getsize(source.path),
        "compression_ratio": round(bytes_before / source.payload_bytes, 3),
        "size_reduction": round(1.0 - source.payload_bytes / bytes_before, 5),
        "cosine_mean": round(float(cosines.mean()), 5),
        "cosine_p5": round(float(numpy.percentile(cosines, 5)), 5),
        "cosine_min": round(float(cosines.min()), 5),
        "centred_cosine_mean": round(float(centred_cosines.mean()), 5),
        "norm_ratio_median": round(float(numpy.median(norm_ratios)), 5),
    }
    report.update(neighbour_agreement(original, source, neighbour_sample, seed))
    report["decode_ms_per_1280"] = round(decode_milliseconds(source, seed=seed), 4)
    return report


def _row_fidelity(
    original: numpy.ndarray, source: CompressedTargetFile
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Per row: the cosine with its reconstruction, the same after subtracting the table's mean, the norm ratio."""
    mean = original.mean(axis=0, dtype=numpy.float64)
    cosines, centred, norm_ratios = (numpy.empty(len(original)) for _ in range(3))
    for start, decoded in Tqdm.tqdm(source.decode_all(), desc="comparing with the original",
                                    total=-(-len(original) // _CHUNK_ROWS)):
        rows = original[start : start + len(decoded)].astype(numpy.float64)
        chunk = slice(start, start + len(decoded))
        cosines[chunk] = row_cosines(rows, decoded)
        centred[chunk] = row_cosines(rows - mean, decoded - mean)
        norm_ratios[chunk] = numpy.linalg.norm(decoded, axis=1) / numpy.maximum(numpy.linalg.norm(rows, axis=1), 1e-30)
    return cosines, centred, norm_ratios


def row_cosines(rows: numpy.ndarray, others: numpy.ndarray) -> numpy.ndarray:
    """The cosine between each row of `rows` and the same row of `others`."""
    norms = numpy.linalg.norm(rows, axis=1) * numpy.linalg.norm(others, axis=1)
    return (rows * others).sum(axis=1) / numpy.maximum(norms, 1e-30)


def neighbour_agreement(
    original: numpy.ndarray, source: CompressedTargetFile, sample: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """
    The mean overlap (0 to 1) of the 10 nearest neighbours (by cosine, itself
    excluded) of `sample` random rows in the original and in the decoded table.
    """
    count = min(sample, len(original))
    if count == 0 or len(original) < 2:
        return {"neighbour_agreement": None, "neighbour_sample": 0}
    rows = numpy.sort(numpy.random.default_rng(seed).choice(len(original), size=count, replace=False))
    k = min(_NEIGHBOURS, len(original) - 1)
    original_chunks = ((start, original[start : start + _CHUNK_ROWS]) for start in range(0, len(original), _CHUNK_ROWS))
    before = _nearest_rows(original[rows], rows, original_chunks, k)
    after = _nearest_rows(source.decode(rows), rows, source.decode_all(), k)
    overlaps = [len(numpy.intersect1d(one, other)) / k for one, other in zip(before, after)]
    return {"neighbour_agreement": round(float(numpy.mean(overlaps)), 5), "neighbour_sample": count}


def _nearest_rows(
    queries: numpy.ndarray, query_rows: numpy.ndarray, chunks: Iterable[Tuple[int, numpy.ndarray]], k: int
) -> numpy.ndarray:
    """The `k` rows (of all chunks) closest by cosine to each query, its own row excluded."""
    units = torch.from_numpy(_unit(queries))
    own_rows = torch.from_numpy(query_rows)
    best_scores = torch.full((len(units), 0), -float("inf"))
    best_rows = torch.zeros((len(units), 0), dtype=torch.long)
    for start, chunk in chunks:
        scores = units @ torch.from_numpy(_unit(chunk)).t()
        own = (own_rows >= start) & (own_rows < start + len(chunk))
        scores[own.nonzero().squeeze(1), own_rows[own] - start] = -float("inf")
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        best_scores = torch.cat([best_scores, top.values], dim=1)
        best_rows = torch.cat([best_rows, top.indices + start], dim=1)
        merged = best_scores.topk(min(k, best_scores.shape[1]), dim=1)
        best_scores, best_rows = merged.values, best_rows.gather(1, merged.indices)
    return best_rows.numpy()


def _unit(rows: numpy.ndarray) -> numpy.ndarray:
    rows = numpy.asarray(rows, dtype=numpy.float32)
    return rows / numpy.maximum(numpy.linalg.norm(rows, axis=1, keepdims=True), 1e-30)


def decode_milliseconds(source: CompressedTargetFile, batch: int = _DECODE_BATCH, repeats: int = 20,
                        seed: int = 0) -> float:
    """The median time to decode `batch` random rows (as `lookup` does for a batch of targets)."""
    generator = numpy.random.default_rng(seed)
    source.decode(generator.integers(0, source.num_rows, batch))  # page in, warm up
    times = []
    for _ in range(repeats):
        rows = generator.integers(0, source.num_rows, batch)
        start = time.perf_counter()
        source.decode(rows)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(numpy.median(times))


def format_report(report: Dict[str, Any]) -> str:
    """The report as a few lines of text."""
    options = ", ".join(f"{key}={value}" for key, value in report.get("options", {}).items())
    agreement = report["neighbour_agreement"]
    lines = [
        f"compress-targets: {report['method']} ({options}) of {report['num_rows']} x {report['dim']} vectors "
        f"-> {report.get('output')}",
        f"  size:      {_megabytes(report['bytes_before'])} -> {_megabytes(report['bytes_after'])} "
        f"({report['compression_ratio']:.1f}x, {100 * report['size_reduction']:.1f}% smaller; "
        f"file with its words {_megabytes(report['file_bytes'])})",
        f"  cosine:    mean {report['cosine_mean']:.4f}, 5th percentile {report['cosine_p5']:.4f}, "
        f"min {report['cosine_min']:.4f}; around the table's mean {report['centred_cosine_mean']:.4f}; "
        f"median norm ratio {report['norm_ratio_median']:.3f}",
        f"  neighbours: top-{_NEIGHBOURS} agreement "
        + (f"{agreement:.3f} over {report['neighbour_sample']} words" if agreement is not None else "not measured"),
        f"  time:      {report.get('compress_seconds', 0):.1f} s to compress, "
        f"{report['decode_ms_per_1280']:.3f} ms to decode {_DECODE_BATCH} rows",
    ]
    return "\n".join(lines)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def _write_report(path: str, report: Dict[str, Any]) -> None:
    with atomic_output_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=2, sort_keys=True)
            stream.write("\n")
