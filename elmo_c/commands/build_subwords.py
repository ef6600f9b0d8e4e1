"""
The `build-subwords` subcommand: trains the sentencepiece model (BPE by default)
whose pieces ELMo-Sub's `subword_softmax` output layer predicts.

```
allennlp build-subwords CORPUS [CORPUS ...] OUTPUT.model [--vocab-size 8000] ...
```

The corpus has one whitespace-tokenised sentence per line, as for `allennlp
train`; each CORPUS argument is a file or a glob pattern.  Sentencepiece never
merges across spaces, so the pieces are those of single words, which is how the
output layer segments the words of its vocabulary.  ELMo's boundary tokens `<S>`
and `</S>`, which the reader adds around each sentence, are pieces of their own
(`--user-defined-symbols`).  The model is written atomically: it is trained in
memory, written to `OUTPUT.model.tmp-<pid>` and renamed, so a crash never leaves a
half-written model behind.
"""

import argparse
import io
import logging
import time
from typing import Iterator, List, Optional, Sequence

import sentencepiece
from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError

from elmo_c.common.atomic import atomic_output_path
from elmo_c.commands.build_targets import (
    _check_not_empty,
    _check_output_writable,
    _default_threads,
    resolve_corpus_files,
)

logger = logging.getLogger(__name__)

BOUNDARY_SYMBOLS = ("<S>", "</S>")


@Subcommand.register("build-subwords")
class BuildSubwords(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Train a sentencepiece subword model (BPE by default) on a corpus (one "
            "whitespace-tokenised sentence per line), for ELMo-Sub's subword_softmax output layer."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("corpus", nargs="+", metavar="CORPUS", help="corpus files or glob patterns")
        subparser.add_argument("output", metavar="OUTPUT.model", help="where to write the model")
        add = subparser.add_argument
        add("--vocab-size", type=int, default=8000, help="number of pieces")
        add("--model-type", choices=["bpe", "unigram"], default="bpe", help="segmentation algorithm")
        add("--character-coverage", type=float, default=0.9995, help="share of characters kept as pieces")
        add(
            "--max-sentences",
            type=int,
            default=10_000_000,
            help="train on a random sample of this many sentences (0: all of them)",
        )
        add(
            "--user-defined-symbols",
            default=",".join(BOUNDARY_SYMBOLS),
            help="comma-separated tokens kept whole as pieces (default: ELMo's <S>,</S>; '' for none)",
        )
        add("--normalization", default="nmt_nfkc", help="sentencepiece normalisation rule (e.g. identity)")
        add("--threads", type=int, default=None, help="training threads (default: all cores)")
        add("--seed", type=int, default=0, help="random seed (for the sentence sample)")
        subparser.set_defaults(func=build_subwords_from_args)
        return subparser


def build_subwords_from_args(args: argparse.Namespace) -> str:
    """Entry point of the `build-subwords` subcommand."""
    symbols = [symbol for symbol in args.user_defined_symbols.split(",") if symbol]
    return train_subwords(
        corpus_files=args.corpus,
        output_path=args.output,
        vocab_size=args.vocab_size,
        model_type=args.model_type,
        character_coverage=args.character_coverage,
        max_sentences=args.max_sentences,
        user_defined_symbols=symbols,
        normalization=args.normalization,
        threads=args.threads,
        seed=args.seed,
    )


def train_subwords(
    corpus_files: List[str],
    output_path: str,
    vocab_size: int = 8000,
    model_type: str = "bpe",
    character_coverage: float = 0.9995,
    max_sentences: int = 10_000_000,
    user_defined_symbols: Sequence[str] = BOUNDARY_SYMBOLS,
    normalization: str = "nmt_nfkc",
    threads: Optional[int] = None,
    seed: int = 0,
    verbose: bool = True,
    log_every: int = 1_000_000,
) -> str:
    """
    Trains a sentencepiece model on a corpus and saves it atomically.  The model
    holds no path or setting of this machine (it is trained from an iterator into
    memory), so the same corpus and settings give the same bytes with one thread.

    # Parameters

    corpus_files : `List[str]`
        Files or glob patterns; one whitespace-tokenised sentence per line.
    output_path : `str`
        Where to write the model (conventionally `*.model`).
    vocab_size : `int`, optional (default = `8000`)
        Number of pieces, `<unk>` and the user-defined symbols included.
    model_type : `str`, optional (default = `"bpe"`)
        `"bpe"` (byte-pair encoding, as GPT's and the paper's subwords) or `"unigram"`.
    character_coverage : `float`, optional (default = `0.9995`)
        Share of the corpus' characters that get a piece; the rarest others become
        `<unk>`.  `1.0` keeps every character (fine for small alphabets).
    max_sentences : `int`, optional (default = `10_000_000`)
        Train on a random sample of this many sentences (sentencepiece holds its
        input in memory); `0` uses every sentence.
    user_defined_symbols : `Sequence[str]`, optional (default = `("<S>", "</S>")`)
        Tokens kept whole as pieces: ELMo's sentence boundaries, which the reader
        adds and the corpus does not contain.
    normalization : `str`, optional (default = `"nmt_nfkc"`)
        Sentencepiece's normalisation rule; `"identity"` keeps the text as is.
    threads : `int`, optional (default = `None`)
        Training threads; `None` means all available cores.
    seed : `int`, optional (default = `0`)
        Seed of sentencepiece's random generator (the sentence sample).
    verbose : `bool`, optional (default = `True`)
        Log progress (sentences read) and sentencepiece's own messages on stderr.
    log_every : `int`, optional (default = `1_000_000`)
        Log the number of sentences read every this many.

    # Returns

    `str`
        The path of the written model.
    """
    threads = _default_threads() if threads is None else threads
    _check_settings(vocab_size, model_type, character_coverage, max_sentences, threads)
    files = resolve_corpus_files(corpus_files)
    _check_not_empty(files)
    _check_output_writable(output_path)
    symbols = list(dict.fromkeys(user_defined_symbols))
    logger.info(
        "Training a %d-piece %s model on %s (user-defined symbols: %s)",
        vocab_size,
        model_type,
        ", ".join(files),
        " ".join(symbols) or "none",
    )
    start = time.time()
    model = io.BytesIO()
    sentencepiece.set_random_generator_seed(seed)
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=_sentences(files, log_every if verbose else 0),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            user_defined_symbols=symbols,
            normalization_rule_name=normalization,
            bos_id=-1,  # the reader's <S> and </S> are the boundaries: no sentencepiece <s>, </s>
            eos_id=-1,
            num_threads=threads,
            minloglevel=0 if verbose else 2,
        )
    except RuntimeError as error:
        raise ConfigurationError(_training_error(error, vocab_size, files)) from error
    with atomic_output_path(output_path) as tmp_path:
        with open(tmp_path, "wb") as out:
            out.write(model.getvalue())
    logger.info("Wrote %s (%d pieces) in %.1fs", output_path, vocab_size, time.time() - start)
    return output_path


def _check_settings(
    vocab_size: int, model_type: str, character_coverage: float, max_sentences: int, threads: int
) -> None:
    if vocab_size < 2:
        raise ConfigurationError(f"--vocab-size must be at least 2, got {vocab_size}.")
    if model_type not in ("bpe", "unigram"):
        raise ConfigurationError(f'--model-type must be "bpe" or "unigram", got "{model_type}".')
    if not 0.0 < character_coverage <= 1.0:
        raise ConfigurationError(f"--character-coverage must be in (0, 1], got {character_coverage}.")
    if max_sentences < 0:
        raise ConfigurationError(f"--max-sentences must be 0 (all) or positive, got {max_sentences}.")
    if threads < 1:
        raise ConfigurationError(f"--threads must be a positive integer, got {threads}.")


def _sentences(files: List[str], log_every: int) -> Iterator[str]:
    count = 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as corpus:
            for line in corpus:
                line = line.strip()
                if line:
                    count += 1
                    if log_every and count % log_every == 0:
                        logger.info("Read %d sentences", count)
                    yield line
    logger.info("Read %d sentences from %d file(s)", count, len(files))


def _training_error(error: RuntimeError, vocab_size: int, files: List[str]) -> str:
    message = str(error).strip()
    if "Vocabulary size too high" in message:
        limit = message.rsplit("<=", 1)[-1].strip(" .")
        return (
            f"--vocab-size {vocab_size} is too large for the corpus {', '.join(files)}: "
            f"it allows at most {limit} pieces. Use a smaller --vocab-size or a larger corpus."
        )
    return f"sentencepiece could not train on {', '.join(files)} (--vocab-size {vocab_size}): {message}"
