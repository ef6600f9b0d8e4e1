#!/usr/bin/env python
"""
(Re)generates the tiny test fixtures under `fixtures/`, deterministically:

* `fixtures/lm/train.txt`, `fixtures/lm/valid.txt`: a toy corpus, one whitespace-tokenised
  sentence per line (`valid.txt` also holds a few words unseen in `train.txt`).
* `fixtures/targets/fasttext_300d.bin`: the same at 300 dimensions with 100 buckets
  (the default targets of `training_config/elmo_c.jsonnet`).
* `fixtures/targets/fasttext.bin`: FastText skipgram (dim 16, subwords) trained on
  `train.txt` by `elmo_c.commands.build_targets.train_fasttext_targets`, one thread.
* `fixtures/targets/vectors.vec`: word2vec text (`N 16` header) for ~80% of the train words,
  values from `fasttext.bin` with 6 decimals.
* `fixtures/targets/glove.txt.gz`: the same kind of rows for another ~80% subset, GloVe
  style (no header), gzip-compressed with a fixed timestamp.
* `fixtures/targets/vectors.npy` + `vectors.words.txt`: the rows of `vectors.vec` as a
  float32 matrix (exactly the values `vectors.vec` parses to) and its words, in order.

Downstream fixtures (toy data in each task's real format, for `training_config/downstream/`):

* `fixtures/downstream/conll2003/{train,dev,test}.txt`: CoNLL-2003 NER columns (word POS
  chunk NER, IOB1 tags as in the original data, `-DOCSTART-` between documents).
* `fixtures/downstream/conll2012/{train,development,test}/<genre>/*.gold_conll`: CoNLL-2012
  (OntoNotes) files with named-entity and SRL columns, as read by allennlp-models' `srl`
  reader (which walks a directory for `*gold_conll` files).
* `fixtures/downstream/sst/{train,dev,test}.txt`: SST-style PTB trees with a sentiment
  label (0-4) on every node, for the `sst_tokens` reader.
* `fixtures/elmo_c_tiny/model.tar.gz`: `fixtures/configs/elmo_c_tiny.jsonnet` trained for one
  epoch with fixed seeds (the default `ELMO_C_ARCHIVE` of the downstream configs).  Its
  config names the fixtures by relative paths, so it holds no path of this machine.

Usage: `python scripts/make_fixtures.py` from the repository root (or anywhere).
"""

import gzip
import io
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import fasttext
import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from elmo_c.commands.build_targets import train_fasttext_targets  # noqa: E402

LM_DIR = os.path.join(ROOT, "fixtures", "lm")
TARGETS_DIR = os.path.join(ROOT, "fixtures", "targets")
SEED = 13
DIM = 16
KEEP_FRACTION = 0.8

TRAIN_SENTENCES = """\
the cat sat on the mat .
a dog chased the cat across the garden .
the old man walked his dog every morning .
she reads a book in the quiet library .
we cooked rice and beans for dinner last night .
the children played football in the park after school .
my brother plays the guitar and sings loudly .
it rained all day , so we stayed inside .
the train to London leaves at nine o'clock .
he drinks coffee with milk but no sugar .
the little bird built a nest in the tall tree .
our teacher explained the lesson very clearly .
they painted the kitchen a bright yellow colour .
the river flows slowly past the small village .
i forgot my umbrella at the station yesterday .
the market sells fresh fruit and vegetables on Saturday .
a strong wind blew the leaves off the trees .
she wrote a long letter to her grandmother .
the baby slept quietly in her mother's arms .
we watched a funny film at the cinema .
the doctor told him to rest for a week .
the farmer feeds the cows and the sheep early .
my sister bought a new blue dress for the party .
the sun rises in the east and sets in the west .
he fixed the broken chair with glue and nails .
the students wrote their answers on the board .
the shop on the corner closes at six .
she planted roses and tulips in the garden .
the cat chased a mouse under the bed .
we walked along the beach and collected shells .
the old clock on the wall stopped at noon .
the dog barked at the stranger near the gate .
they visited Paris and Rome during the summer .
the bread in the oven smells wonderful .
my father reads the newspaper every morning .
the moon was bright and the sky was clear .
she sings in the choir on Sunday .
the boy lost his red ball in the river .
we need more milk , eggs and bread from the shop .
the teacher asked the children to be quiet .
a small boat sailed across the lake .
he always forgets where he parks his car .
the garden looks beautiful in the spring .
the old woman fed the birds in the park .
the wind and the rain kept us awake all night .
my friend lives in a small house near the river .
the cat sleeps on the warm chair by the window .
they built a tall tower out of wooden blocks .
she opened the window to let in fresh air .
the library closes early on Sunday .
the children laughed at the funny clown .
he ran quickly to catch the last train .
the soup was too hot to eat .
we played cards with our grandmother after dinner .
the mountain was covered with fresh snow .
a young girl gave the old man an apple .
the dog found a bone buried in the garden .
my mother makes the best apple pie .
the stars shine brightly on a clear night .
the man in the blue coat is my uncle .
"""

VALID_SENTENCES = """\
the dog sat on the warm mat .
my grandmother reads the newspaper in the garden .
the children walked to the park after dinner .
she bought fresh bread and milk at the market .
a bird sang in the tall tree every morning .
the train was late because of the snow .
he plays football with his brother on Saturday .
the old cat slept by the window all day .
we saw a small boat on the quiet river .
the teacher wrote the lesson on the board .
the giraffe ate leaves from the highest branches .
my uncle drives a yellow tractor on his farm .
the wind blew the umbrella across the beach .
they cooked soup with carrots and onions .
the moon and the stars were bright last night .
"""


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(text)


def corpus_words(text: str) -> List[str]:
    """Distinct tokens of a corpus, in order of first occurrence."""
    return list(dict.fromkeys(text.split()))


def subset(words: List[str], seed: int) -> List[str]:
    """A seeded ~80% subset of `words`, kept in the order of `words`."""
    kept = set(random.Random(seed).sample(words, round(len(words) * KEEP_FRACTION)))
    return [word for word in words if word in kept]


def rounded_vectors(model, words: List[str]) -> Dict[str, List[str]]:
    """Each word's FastText vector as strings with 6 decimals."""
    return {word: [f"{value:.6f}" for value in model.get_word_vector(word)] for word in words}


def vector_lines(vectors: Dict[str, List[str]]) -> str:
    return "".join(f"{word} {' '.join(values)}\n" for word, values in vectors.items())


def write_gzip(path: str, text: str) -> None:
    """Gzip with no file name and a zero timestamp in the header, so reruns are identical."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed:
        compressed.write(text.encode("utf-8"))
    with open(path, "wb") as out:
        out.write(buffer.getvalue())


def write_npy(npy_path: str, words_path: str, vectors: Dict[str, List[str]]) -> None:
    matrix = numpy.array([[float(v) for v in values] for values in vectors.values()], "float32")
    numpy.save(npy_path, matrix)
    write_text(words_path, "".join(f"{word}\n" for word in vectors))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train_path = os.path.join(LM_DIR, "train.txt")
    write_text(train_path, TRAIN_SENTENCES)
    write_text(os.path.join(LM_DIR, "valid.txt"), VALID_SENTENCES)

    bin_path = os.path.join(TARGETS_DIR, "fasttext.bin")
    os.makedirs(TARGETS_DIR, exist_ok=True)
    settings = dict(dim=DIM, bucket=2000, minn=3, maxn=5, epochs=5, min_count=1)
    train_fasttext_targets([train_path], bin_path, threads=1, seed=SEED, verbose=0, **settings)
    model = fasttext.load_model(bin_path)
    # The default targets of training_config/elmo_c.jsonnet, at the paper's 300
    # dimensions (few buckets keep it small).
    settings_300d = dict(settings, dim=300, bucket=100, epochs=1)
    train_fasttext_targets(
        [train_path], os.path.join(TARGETS_DIR, "fasttext_300d.bin"), threads=1, seed=SEED, verbose=0, **settings_300d
    )

    words = corpus_words(TRAIN_SENTENCES)
    vec_rows = rounded_vectors(model, subset(words, SEED))
    vec_text = f"{len(vec_rows)} {DIM}\n" + vector_lines(vec_rows)
    write_text(os.path.join(TARGETS_DIR, "vectors.vec"), vec_text)
    glove_rows = rounded_vectors(model, subset(words, SEED + 1))
    write_gzip(os.path.join(TARGETS_DIR, "glove.txt.gz"), vector_lines(glove_rows))
    write_npy(
        os.path.join(TARGETS_DIR, "vectors.npy"),
        os.path.join(TARGETS_DIR, "vectors.words.txt"),
        vec_rows,
    )

    valid_words = corpus_words(VALID_SENTENCES)
    unseen = len(set(valid_words) - set(words))
    print(f"train: {len(words)} types; valid: {len(valid_words)} types, {unseen} unseen in train")
    print(f"vectors.vec/npy: {len(vec_rows)} rows; glove.txt.gz: {len(glove_rows)} rows")
    for directory in (LM_DIR, TARGETS_DIR):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
