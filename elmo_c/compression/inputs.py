"""
The table to compress: words and float32 vectors, read and checked as the matching
`TargetEmbeddings` type reads them.
"""
from collections import Counter
import logging
import os
import struct
import zlib
from typing import List, Optional, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Vocabulary

from elmo_c.data.counted_vocabulary import CountedVocabulary
from elmo_c.data.target_embeddings import FastTextTargetEmbeddings, NpyTargetEmbeddings, TargetEmbeddings
from elmo_c.data.target_embeddings.target_embeddings import MISSING
from elmo_c.data.target_embeddings.text import _is_header, _open

logger = logging.getLogger(__name__)

INPUT_TYPES = ("fasttext", "text", "npy")
_NAMESPACE = "compress_targets"


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
