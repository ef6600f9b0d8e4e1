"""
The `build-targets` subcommand: trains the FastText (skipgram + subword n-grams)
vectors that ELMo-C's output layer regresses onto.

```
allennlp build-targets CORPUS [CORPUS ...] OUTPUT.bin [--dim 300] [--epochs 5] ...
```

The corpus has one sentence per line and is whitespace tokenised.  Each CORPUS
argument is a file or a glob pattern; several files are concatenated into a
temporary file next to the output.  The model is written atomically: FastText
saves to `OUTPUT.bin.tmp-<pid>`, which is then renamed to `OUTPUT.bin`, so a crash
never leaves a half-written model behind (the same holds for `--save-vec`).
"""

import argparse
import glob
import logging
import os
import shutil
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError

from elmo_c.common.atomic import atomic_output_path, ensure_writable_directory

logger = logging.getLogger(__name__)

_GLOB_CHARACTERS = set("*?[")
_SCAN_CHUNK_BYTES = 1 << 20


def _default_threads() -> int:
    """All the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@Subcommand.register("build-targets")
class BuildTargets(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Train FastText skipgram vectors with subword n-grams on a corpus (one "
            "whitespace-tokenised sentence per line), to serve as ELMo-C's output targets."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "corpus", nargs="+", metavar="CORPUS", help="corpus files or glob patterns"
        )
        subparser.add_argument("output", metavar="OUTPUT.bin", help="where to write the model")
        _add_training_arguments(subparser)
        subparser.set_defaults(func=build_targets_from_args)
        return subparser


def _add_training_arguments(subparser: argparse.ArgumentParser) -> None:
    add = subparser.add_argument
    add("--dim", type=int, default=300, help="vector dimension")
    add("--epochs", type=int, default=5, help="training epochs")
    add("--bucket", type=int, default=200000, help="number of subword n-gram buckets")
    add("--min-count", type=int, default=1, help="minimal number of word occurrences")
    add("--minn", type=int, default=3, help="minimal length of character n-grams")
    add("--maxn", type=int, default=6, help="maximal length of character n-grams")
    add("--lr", type=float, default=0.05, help="learning rate")
    add("--threads", type=int, default=None, help="training threads (default: all cores)")
    add("--seed", type=int, default=0, help="random seed")
    add("--save-vec", action="store_true", help="also write OUTPUT.vec (word2vec text format)")


def build_targets_from_args(args: argparse.Namespace) -> str:
    """Entry point of the `build-targets` subcommand."""
    return train_fasttext_targets(
        corpus_files=args.corpus,
        output_path=args.output,
        dim=args.dim,
        epochs=args.epochs,
        bucket=args.bucket,
        min_count=args.min_count,
        minn=args.minn,
        maxn=args.maxn,
        lr=args.lr,
        threads=args.threads,
        seed=args.seed,
        save_vec=args.save_vec,
    )


def train_fasttext_targets(
    corpus_files: List[str],
    output_path: str,
    dim: int = 300,
    epochs: int = 5,
    bucket: int = 200000,
    min_count: int = 1,
    minn: int = 3,
    maxn: int = 6,
    lr: float = 0.05,
    threads: Optional[int] = None,
    seed: int = 0,
    save_vec: bool = False,
    verbose: int = 2,
) -> str:
    """
    Trains FastText skipgram vectors with subword n-grams and saves them atomically.

    # Parameters

    corpus_files : `List[str]`
        Files or glob patterns; one whitespace-tokenised sentence per line.
    output_path : `str`
        Where to write the FastText model (conventionally `*.bin`).
    dim : `int`, optional (default = `300`)
        Dimension of the vectors.
    epochs : `int`, optional (default = `5`)
        Number of passes over the corpus.
    bucket : `int`, optional (default = `200000`)
        Number of hash buckets for the character n-grams.
    min_count : `int`, optional (default = `1`)
        Words seen fewer times are left out of the dictionary.
    minn : `int`, optional (default = `3`)
        Minimal character n-gram length (`minn = maxn = 0` turns subwords off).
    maxn : `int`, optional (default = `6`)
        Maximal character n-gram length.
    lr : `float`, optional (default = `0.05`)
        Initial learning rate.
    threads : `int`, optional (default = `None`)
        Training threads; `None` means all available cores.  Only `threads=1` is
        reproducible run to run.
    seed : `int`, optional (default = `0`)
        Seed of FastText's random number generators.
    save_vec : `bool`, optional (default = `False`)
        Also write the dictionary's vectors to `<output without .bin>.vec`.
    verbose : `int`, optional (default = `2`)
        FastText's verbosity; `2` shows its progress bar on stderr.

    # Returns

    `str`
        The path of the written model.
    """
    threads = _default_threads() if threads is None else threads
    params = dict(dim=dim, epoch=epochs, bucket=bucket, minCount=min_count, minn=minn)
    params.update(maxn=maxn, lr=lr, thread=threads, seed=seed, verbose=verbose)
    _check_params(params)
    files = resolve_corpus_files(corpus_files)
    _check_not_empty(files)
    _check_output_writable(output_path)
    settings = ", ".join(f"{key}={value}" for key, value in params.items())
    logger.info("Training FastText skipgram on %s (%s)", ", ".join(files), settings)
    start = time.time()
    with _single_corpus_file(files, output_path) as corpus:
        model = _train_skipgram(corpus, params)
    logger.info("Trained %d-word vocabulary in %.1fs", len(model.words), time.time() - start)
    with atomic_output_path(output_path) as tmp_path:
        model.save_model(tmp_path)
    if save_vec:
        vec_path = vec_path_for(output_path)
        with atomic_output_path(vec_path) as tmp_path:
            write_word2vec(model, tmp_path)
        logger.info("Wrote %s", vec_path)
    logger.info("Wrote %s (%.1f MB)", output_path, os.path.getsize(output_path) / 2**20)
    return output_path


def vec_path_for(output_path: str) -> str:
    """`OUTPUT.bin` -> `OUTPUT.vec` (any other name just gets `.vec` appended)."""
    stem = output_path[: -len(".bin")] if output_path.endswith(".bin") else output_path
    return stem + ".vec"


def _check_params(params: Dict[str, Any]) -> None:
    positive = {"dim": "--dim", "epoch": "--epochs", "minCount": "--min-count"}
    positive["thread"] = "--threads"
    for key, flag in positive.items():
        if params[key] <= 0:
            raise ConfigurationError(f"{flag} must be a positive integer, got {params[key]}.")
    if not params["lr"] > 0:
        raise ConfigurationError(f"--lr must be positive, got {params['lr']}.")
    minn, maxn = params["minn"], params["maxn"]
    if minn < 0 or maxn < 0 or minn > maxn or (minn == 0 and maxn > 0):
        raise ConfigurationError(
            f"Invalid character n-gram range --minn {minn} --maxn {maxn}: need "
            "1 <= minn <= maxn (or minn = maxn = 0 to train without subwords)."
        )
    if maxn > 0 and params["bucket"] <= 0:
        raise ConfigurationError(
            f"--bucket must be positive when subwords are used (--maxn {maxn}), "
            f"got {params['bucket']}."
        )


def resolve_corpus_files(patterns: List[str]) -> List[str]:
    """
    Expands files and glob patterns, in the given order (each glob sorted).

    # Parameters

    patterns : `List[str]`
        Paths of files, or glob patterns such as `data/train-*.txt`.

    # Returns

    `List[str]`
        The existing files, with an error for a missing file, a directory, or a
        pattern that matches nothing.
    """
    if not patterns:
        raise ConfigurationError("No corpus file given: pass at least one file or glob pattern.")
    files: List[str] = []
    for pattern in patterns:
        if os.path.exists(pattern) or not _GLOB_CHARACTERS & set(pattern):
            matches = [pattern]
        else:
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise ConfigurationError(
                    f"Corpus pattern {pattern!r} matches no file: check the path and quoting."
                )
        files.extend(_check_corpus_file(path) for path in matches)
    return files


def _check_corpus_file(path: str) -> str:
    if os.path.isdir(path):
        raise ConfigurationError(
            f"Corpus path {path} is a directory: pass its files, e.g. '{path}/*.txt'."
        )
    if not os.path.isfile(path):
        raise ConfigurationError(f"Corpus file {path} does not exist: check the path.")
    if not os.access(path, os.R_OK):
        raise ConfigurationError(f"Corpus file {path} is not readable: check its permissions.")
    return path


def _has_token(path: str) -> bool:
    """Whether the file holds any non-whitespace byte (reads only up to the first)."""
    with open(path, "rb") as corpus:
        for chunk in iter(lambda: corpus.read(_SCAN_CHUNK_BYTES), b""):
            if chunk.strip():
                return True
    return False


def _check_not_empty(files: List[str]) -> None:
    empty = [path for path in files if not _has_token(path)]
    if len(empty) == len(files):
        raise ConfigurationError(
            f"Corpus {', '.join(files)} holds no tokens: give a file with one "
            "whitespace-tokenised sentence per line."
        )
    for path in empty:
        logger.warning("Corpus file %s holds no tokens.", path)


def _check_output_writable(output_path: str) -> None:
    directory = os.path.dirname(os.path.abspath(output_path))
    if os.path.isdir(output_path):
        raise ConfigurationError(f"Output {output_path} is a directory: give a file name.")
    try:
        ensure_writable_directory(directory)
    except OSError as error:
        raise ConfigurationError(
            f"Cannot write the output {output_path}: its directory {directory} is not "
            f"writable ({error}). Choose another output path or fix the permissions."
        ) from error


@contextmanager
def _single_corpus_file(files: List[str], output_path: str) -> Iterator[str]:
    """Yields the one corpus file, or a temporary concatenation of several next to the output."""
    if len(files) == 1:
        yield files[0]
        return
    concatenated = f"{output_path}.corpus-{os.getpid()}.tmp"
    try:
        logger.info("Concatenating %d corpus files into %s", len(files), concatenated)
        _concatenate(files, concatenated)
        yield concatenated
    finally:
        if os.path.exists(concatenated):
            os.remove(concatenated)


def _concatenate(files: List[str], destination: str) -> None:
    with open(destination, "wb") as out:
        for path in files:
            with open(path, "rb") as corpus:
                shutil.copyfileobj(corpus, out)
                if corpus.tell() > 0:  # keep a file's last line apart from the next file's first
                    corpus.seek(-1, os.SEEK_END)
                    if corpus.read(1) != b"\n":
                        out.write(b"\n")


def _train_skipgram(corpus: str, params: Dict[str, Any]) -> Any:
    """
    Trains a skipgram model like `fasttext.train_unsupervised`, which in fasttext 0.9.2
    rejects the `seed` argument, so its body is reproduced here with `seed` allowed.
    """
    from fasttext import FastText as fasttext_module

    args = dict(fasttext_module.unsupervised_default, model="skipgram", input=corpus, **params)
    fasttext_args = fasttext_module._build_args(args, set(params) | {"model", "input"})
    model = fasttext_module._FastText(args=fasttext_args)
    try:
        fasttext_module.fasttext.train(model.f, fasttext_args)
    except ValueError as error:  # e.g. "Empty vocabulary. Try a smaller -minCount value."
        raise ConfigurationError(
            f"FastText could not train on {corpus}: {error} (--min-count {params['minCount']})"
        ) from error
    model.set_args(model.f.getArgs())
    return model


def write_word2vec(model: Any, path: str) -> None:
    """
    Writes the vectors of every dictionary word in word2vec text format, as FastText does.

    # Parameters

    model : `fasttext.FastText._FastText`
        A trained or loaded FastText model.
    path : `str`
        The file to write: a `"count dim"` header, then `word v1 ... vdim` per line.
    """
    words, dim = model.words, model.get_dimension()
    row_format = "%s" + " %.6g" * dim + "\n"  # 6 significant digits, like FastText's own .vec
    with open(path, "w", encoding="utf-8") as vec_file:
        vec_file.write(f"{len(words)} {dim}\n")
        for word in words:
            vec_file.write(row_format % (word, *model.get_word_vector(word).tolist()))
