import logging
import os
from collections import Counter
from typing import Dict, Optional, Union

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

logger = logging.getLogger(__name__)

# A hidden file, so that `Vocabulary.from_files` (which reads every other file of the
# directory as a namespace) and older readers of the archive ignore it.
_COUNTS_FILE = ".counts.{namespace}.txt"


@Vocabulary.register("counted", constructor="from_instances")
class CountedVocabulary(Vocabulary):
    """
    AllenNLP's `Vocabulary`, built the same way, that also keeps how often each
    token occurred in the instances it was built from, and saves the counts with
    the vocabulary (`.counts.<namespace>.txt`, one count per line in index order),
    so that a model archive carries them.

    ELMo-C needs the frequencies of the words it predicts: to centre the target
    vectors on their frequency-weighted mean (`TargetEmbeddings`' `centre`), and for
    the baselines its metrics stand beside (the best constant prediction and a
    unigram model).  `allennlp train` builds the vocabulary from every dataset of
    `datasets_for_vocab_creation` (by default training *and* validation data): the
    counts then include the validation text, which can only favour the baselines.

    Registered as a `Vocabulary` with name "counted" (constructor `from_instances`,
    same parameters as AllenNLP's default).
    """

    def __init__(self, *args, **kwargs) -> None:
        # Plain dicts of Counters (not lambdas), so the vocabulary still pickles for loader workers.
        self._token_counts: Dict[str, Counter] = {}
        super().__init__(*args, **kwargs)

    def _extend(self, counter: Dict[str, Dict[str, int]] = None, *args, **kwargs) -> None:
        super()._extend(counter, *args, **kwargs)
        for namespace, token_counts in (counter or {}).items():
            self._token_counts.setdefault(namespace, Counter()).update(token_counts)

    def counts(self, namespace: str = "tokens") -> Optional[numpy.ndarray]:
        """
        The count of each token of `namespace` in index order (int64; 0 for padding,
        the OOV token and tokens added without a count), or `None` if no counts were
        recorded for it (a vocabulary not built from instances).
        """
        if not self._token_counts.get(namespace):
            return None
        counts = self._token_counts[namespace]
        return numpy.array(
            [counts.get(self.get_token_from_index(i, namespace), 0) for i in range(self.get_vocab_size(namespace))],
            dtype=numpy.int64,
        )

    def save_to_files(self, directory: str) -> None:
        super().save_to_files(directory)
        for namespace in list(self._token_counts):
            counts = self.counts(namespace)
            if counts is None:
                continue
            with open(os.path.join(directory, _COUNTS_FILE.format(namespace=namespace)), "w") as stream:
                stream.write("\n".join(str(count) for count in counts.tolist()) + "\n")

    @classmethod
    def from_files(
        cls, directory: Union[str, os.PathLike], padding_token: Optional[str] = None, oov_token: Optional[str] = None
    ) -> "CountedVocabulary":
        vocab = super().from_files(directory, padding_token, oov_token)
        vocab_dir = _vocabulary_directory(str(directory))
        for name in os.listdir(vocab_dir) if vocab_dir else ():
            if name.startswith(".counts.") and name.endswith(".txt"):
                namespace = name[len(".counts.") : -len(".txt")]
                vocab._set_counts(namespace, os.path.join(vocab_dir, name))
        return vocab

    def _set_counts(self, namespace: str, path: str) -> None:
        with open(path) as stream:
            try:
                values = [int(line) for line in stream if line.strip()]
            except ValueError:
                raise ConfigurationError(f"{path} is not a list of token counts (one integer per line)") from None
        size = self.get_vocab_size(namespace)
        if len(values) != size:
            raise ConfigurationError(
                f"{path} has {len(values)} counts for the {size} tokens of namespace '{namespace}': "
                f"the vocabulary directory is inconsistent; rebuild the vocabulary"
            )
        counts = self._token_counts.setdefault(namespace, Counter())
        for index, count in enumerate(values):
            if count:
                counts[self.get_token_from_index(index, namespace)] = count


def _vocabulary_directory(directory: str) -> Optional[str]:
    """The directory `Vocabulary.from_files` read: `directory`, or an archive's extracted `vocabulary/`."""
    if os.path.isdir(directory):
        return directory
    from allennlp.common.file_utils import cached_path

    base = cached_path(directory, extract_archive=True)
    for candidate in (os.path.join(base, "vocabulary"), base):
        if os.path.isdir(candidate):
            return candidate
    return None


def token_counts(vocab: Vocabulary, namespace: str = "tokens") -> Optional[numpy.ndarray]:
    """The counts of `namespace`'s tokens if `vocab` recorded them (a `CountedVocabulary`), else `None`."""
    return vocab.counts(namespace) if isinstance(vocab, CountedVocabulary) else None


# Distributed training rewrites the config's vocabulary to {"type": "from_files"}
# (the workers read what the primary built), and archives keep that type: vocabularies
# read from files must keep their counts too, or the workers would centre the targets
# differently from a single process.  Without a counts file nothing changes.
Vocabulary.register("from_files", constructor="from_files", exist_ok=True)(CountedVocabulary)
Vocabulary.register("extend", constructor="from_files_and_instances", exist_ok=True)(CountedVocabulary)
