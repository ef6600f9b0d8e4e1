import itertools
import logging
import os
from typing import List, Optional

import numpy
import sentencepiece
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from sentencepiece import sentencepiece_model_pb2

from elmo_c.modules.output_layers.output_layer import OutputLayer
from elmo_c.modules.output_layers.softmax import SoftmaxFamilyOutputLayer

logger = logging.getLogger(__name__)

NO_PIECE = -1


def load_subword_model(path: str) -> sentencepiece.SentencePieceProcessor:
    """A sentencepiece model from a file, with a clear error if it cannot be read."""
    if not os.path.isfile(path):
        raise ConfigurationError(
            f"Subword model {path} does not exist: build one with `allennlp build-subwords CORPUS {path}`"
        )
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(model_file=path)
    except (OSError, RuntimeError) as error:
        raise ConfigurationError(f"{path} is not a sentencepiece model: {error}") from error
    return processor


def user_defined_pieces(processor: sentencepiece.SentencePieceProcessor) -> List[str]:
    """The pieces declared with `user_defined_symbols` when the model was trained (e.g. `<S>`)."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(processor.serialized_model_proto())
    user_defined = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    return [piece.piece for piece in proto.pieces if piece.type == user_defined]


def word_pieces(
    processor: sentencepiece.SentencePieceProcessor,
    words: List[str],
    padding_token: Optional[str] = None,
    oov_token: Optional[str] = None,
) -> List[List[int]]:
    """
    The piece ids of each word, as sentencepiece segments it alone (so a word's first
    piece carries the word-start mark `▁`).  The padding token has none, the OOV
    token is the model's `<unk>`, a word that is itself a user-defined piece (such
    as ELMo's `<S>` and `</S>` when given to `build-subwords`) is that one piece, and
    a word that segments to nothing (e.g. only characters the normaliser removes)
    is `<unk>`.
    """
    special = set(user_defined_pieces(processor))
    unk = processor.unk_id()
    pieces = processor.encode(words)
    for index, word in enumerate(words):
        if word == padding_token:
            pieces[index] = []
        elif word == oov_token:
            pieces[index] = [unk]
        elif word in special:
            pieces[index] = [processor.piece_to_id(word)]
        elif not pieces[index]:
            pieces[index] = [unk]
    return pieces


@OutputLayer.register("subword_softmax")
class SubwordSoftmaxOutputLayer(SoftmaxFamilyOutputLayer):
    """
    ELMo-Sub's output layer: a softmax over a subword vocabulary (a sentencepiece
    model, e.g. BPE from `allennlp build-subwords`) instead of over words.  Every
    word of the `tokens` vocabulary is segmented once, at construction, into a
    padded table of piece ids (`piece_ids`, rebuilt from the model rather than
    saved in the weights), so the reader and the model stay word-level.

    The loss of a target word is the summed negative log-likelihood of its pieces,
    each an independent target of the same softmax over the pieces, computed from
    the same encoder state (the one that predicts the word): `-sum_j log p(piece_j
    | state)`.  The word counts once in `num_targets`, so the loss per target, like
    the other layers', is per word.  This is a word-level language model with a
    factorised output, not a normalised distribution over words: its `perplexity`
    (exp of the mean per-word loss, see `SoftmaxFamilyOutputLayer`) bounds no word
    perplexity and is comparable only between subword runs.

    Relation to the paper's ELMo-Sub: the paper's baseline is a subword-level
    language model, whose sequences are pieces, each predicted from the state after
    the previous piece (the encoder then also runs on pieces, and representations
    are of word fragments).  Here the encoder is exactly the word-level one of
    ELMo-C and the other baselines, and only the output vocabulary changes: the
    softmax over 8K-30K pieces instead of 800K words gives the same saving in output
    parameters and time that ELMo-Sub has, without the order of the pieces within a
    word (the pieces of a word are predicted as a bag).

    The OOV token (`@@UNKNOWN@@`) maps to the model's `<unk>` piece: a word outside
    the `tokens` vocabulary cannot be segmented, since only its id reaches the
    layer (with `Vocabulary.from_instances`' defaults every training word is in the
    vocabulary, so this concerns unseen validation words).

    Registered as an `OutputLayer` with name "subword_softmax".

    # Parameters

    input_dim : `int`
        Passed by the model.
    vocab : `Vocabulary`
        Passed by `FromParams`.
    subword_model : `str`
        The sentencepiece model file (`allennlp build-subwords CORPUS OUT.model`).
        It is read again whenever the model is built, archives included.
    max_pieces : `int`, optional (default = `None`)
        Keep only the first `max_pieces` pieces of each word: the table has a column
        per piece of the longest word, which odd tokens such as URLs can make wide.
    share_between_directions : `bool`, optional (default = `True`)
        One softmax for both language models, as ELMo; `False` gives each its own.
    predict_oov : `bool`, optional (default = `True`)
        Whether the OOV token (as `<unk>`) is a target (see `SoftmaxFamilyOutputLayer`).
    namespace : `str`, optional (default = `"tokens"`)
        The vocabulary namespace of the target ids.
    """

    def __init__(
        self,
        input_dim: int,
        vocab: Vocabulary,
        subword_model: str,
        max_pieces: Optional[int] = None,
        share_between_directions: bool = True,
        predict_oov: bool = True,
        namespace: str = "tokens",
    ) -> None:
        super().__init__(vocab, share_between_directions, predict_oov, namespace)
        if max_pieces is not None and max_pieces < 1:
            raise ConfigurationError(f"max_pieces must be positive, got {max_pieces}")
        processor = load_subword_model(subword_model)
        self.subword_model = subword_model
        self.num_pieces = processor.get_piece_size()
        words = [vocab.get_token_from_index(index, namespace) for index in range(self.num_words)]
        pieces = word_pieces(processor, words, vocab._padding_token, vocab._oov_token)
        longest = max(len(word) for word in pieces)
        if max_pieces is not None and longest > max_pieces:
            truncated = sum(len(word) > max_pieces for word in pieces)
            logger.warning("Keeping the first %d pieces of %d words (up to %d pieces)", max_pieces, truncated, longest)
            pieces = [word[:max_pieces] for word in pieces]
            longest = max_pieces
        self.register_buffer("piece_ids", torch.from_numpy(_piece_table(pieces, longest)), persistent=False)
        logger.info(
            "Segmented %d words into %.2f pieces on average (at most %d) of %d",
            len(pieces),
            sum(map(len, pieces)) / max(1, len(pieces)),
            longest,
            self.num_pieces,
        )
        self.make_heads(lambda: torch.nn.Linear(input_dim, self.num_pieces), share_between_directions)

    # Pieces are predicted as a bag, so there is no distribution over words to rank.
    _has_word_scores = False

    def _loss_sum(self, head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_probs = torch.nn.functional.log_softmax(head(hidden).float(), dim=-1)
        pieces = self.piece_ids[targets].long()
        is_piece = pieces != NO_PIECE
        picked = log_probs.gather(1, pieces.clamp(min=0)).masked_fill(~is_piece, 0.0)
        return -picked.sum()


def _piece_table(pieces: List[List[int]], width: int) -> numpy.ndarray:
    """
    The words' piece ids as an int32 table `(num_words, width)` padded with
    `NO_PIECE` (int32: 800K words x the longest word), filled at once: a row at a
    time takes seconds for 800K words.
    """
    lengths = numpy.fromiter(map(len, pieces), dtype=numpy.int64, count=len(pieces))
    flat = numpy.fromiter(itertools.chain.from_iterable(pieces), dtype=numpy.int32, count=int(lengths.sum()))
    starts = numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    table = numpy.full((len(pieces), width), NO_PIECE, dtype=numpy.int32)
    table[numpy.repeat(numpy.arange(len(pieces)), lengths), numpy.arange(len(flat)) - starts] = flat
    return table
