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

The command reads its arguments and runs the steps; the methods, the `.ctt` format
and the report are in `elmo_c.compression`.
"""
import argparse
import json
import time
from typing import Any, Dict, Optional

from allennlp.commands.subcommand import Subcommand

from elmo_c.common.atomic import atomic_output_path
from elmo_c.compression import METHODS, CompressionSettings, compress_table, format_report
from elmo_c.compression.inputs import INPUT_TYPES, read_input_vectors
from elmo_c.compression.settings import CENTROID_DTYPES
from elmo_c.compression.table import check_run

# `read_input_vectors` is re-exported for callers of `compress_targets` that read the table themselves.
__all__ = ["CompressTargets", "compress_targets", "compress_targets_from_args", "read_input_vectors"]


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
    check_run(threads, neighbour_sample, output_path)
    start = time.time()
    words, matrix = read_input_vectors(
        input_path, input_type, words_path, vocabulary_path, centre, remove_principal_directions
    )
    report = compress_table(words, matrix, output_path, compression, threads, neighbour_sample, input_path)
    report.update(input=input_path, total_seconds=round(time.time() - start, 2))
    _write_report(output_path + ".report.json", report)
    print(format_report(report), flush=True)
    return report


def _write_report(path: str, report: Dict[str, Any]) -> None:
    with atomic_output_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=2, sort_keys=True)
            stream.write("\n")
