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
* `fixtures/subwords/bpe.model`: a 128-piece sentencepiece BPE model of `train.txt` (ELMo-Sub's
  default `ELMO_C_SUBWORDS`) by `elmo_c.commands.build_subwords.train_subwords`, one thread.

Downstream fixtures (toy data in each task's real format, for `training_config/downstream/`):

* `fixtures/downstream/conll2003/{train,dev,test}.txt`: CoNLL-2003 NER columns (word POS
  chunk NER, IOB1 tags as in the original data, `-DOCSTART-` between documents).
* `fixtures/downstream/conll2012/{train,development,test}/<genre>/*.gold_conll`: CoNLL-2012
  (OntoNotes) files with named-entity and SRL columns, as read by allennlp-models' `srl`
  reader (which walks a directory for `*gold_conll` files).
* `fixtures/downstream/sst/{train,dev,test}.txt`: SST-style PTB trees with a sentiment
  label (0-4) on every node, for the `sst_tokens` reader.
* `fixtures/downstream/classification/{train,dev,test}.jsonl`: the same kind of
  sentences with a binary label, for `text_classification_json`.
* `fixtures/elmo_c_tiny/model.tar.gz`: `fixtures/configs/elmo_c_tiny.jsonnet` trained for one
  epoch with fixed seeds (the default `ELMO_C_ARCHIVE` of the downstream configs).  Its
  config names the fixtures by relative paths, so it holds no path of this machine.

Usage: `python scripts/make_fixtures.py` from the repository root (or anywhere).
"""

import gzip
import io
import itertools
import json
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


# -- downstream fixtures ----------------------------------------------------------------

DOWNSTREAM_DIR = os.path.join(ROOT, "fixtures", "downstream")
ARCHIVE_DIR = os.path.join(ROOT, "fixtures", "elmo_c_tiny")

# CoNLL-2003: templates whose slots take entities of a type; every other word has a
# fixed POS tag and (IOB1) chunk tag.
NER_TEMPLATES = [
    "{PER} visited {LOC} on Monday .",
    "{ORG} said on Tuesday that profits rose .",
    "{PER} , a spokesman for {ORG} , declined to comment .",
    "The {MISC} team beat {LOC} 2 - 1 .",
    "{PER} met {PER} in {LOC} .",
    "Shares in {ORG} fell sharply in {LOC} .",
    "{ORG} {ORG} talks ended without a deal .",
    "{MISC} fans celebrated in {LOC} on Friday .",
]
NER_ENTITIES = {
    "PER": ["Anna", "John Smith", "Maria Garcia", "Peter Blackburn", "Jose Maria Olazabal"],
    "LOC": ["Germany", "New York", "Paris", "South Africa", "Tokyo", "Rio de Janeiro"],
    "ORG": ["Reuters", "European Commission", "United Nations", "Toyota", "Bank of England"],
    "MISC": ["German", "British", "World Cup"],
}
NER_WORDS = {
    "visited": ("VBD", "I-VP"), "on": ("IN", "I-PP"), "Monday": ("NNP", "I-NP"), ".": (".", "O"),
    "said": ("VBD", "I-VP"), "Tuesday": ("NNP", "I-NP"), "that": ("IN", "I-SBAR"),
    "profits": ("NNS", "I-NP"), "rose": ("VBD", "I-VP"), ",": (",", "O"), "a": ("DT", "I-NP"),
    "spokesman": ("NN", "I-NP"), "for": ("IN", "I-PP"), "declined": ("VBD", "I-VP"),
    "to": ("TO", "I-VP"), "comment": ("VB", "I-VP"), "The": ("DT", "I-NP"), "team": ("NN", "I-NP"),
    "beat": ("VBD", "I-VP"), "2": ("CD", "I-NP"), "-": (":", "O"), "1": ("CD", "I-NP"),
    "met": ("VBD", "I-VP"), "in": ("IN", "I-PP"), "Shares": ("NNS", "I-NP"), "fell": ("VBD", "I-VP"),
    "sharply": ("RB", "I-ADVP"), "talks": ("NNS", "I-NP"), "ended": ("VBD", "I-VP"),
    "without": ("IN", "I-PP"), "deal": ("NN", "I-NP"), "fans": ("NNS", "I-NP"),
    "celebrated": ("VBD", "I-VP"), "Friday": ("NNP", "I-NP"),
}
NER_SENTENCES_PER_DOCUMENT = 5

# CoNLL-2012: per sentence, an optional named-entity annotation and one bracketed
# frame per predicate ("[ARG0 The company] [V sold] ..."), all over the same words.
SRL_DOCUMENTS = {
    "train/nw/toy_0001": [
        (None, ["[ARG0 The company] [V sold] [ARG1 its shares] [ARGM-TMP on Monday] ."]),
        (None, [
            "[ARG0 The minister] [V said] [ARG1 the bank would raise rates] .",
            "The minister said [ARG0 the bank] [ARGM-MOD would] [V raise] [ARG1 rates] .",
        ]),
        (None, ["[ARG0 Children] [V played] [ARGM-LOC in the park] [ARGM-TMP after school] ."]),
        (None, ["[ARG1 Prices] [V fell] [ARGM-MNR sharply] ."]),
        ("Good news for everyone .", []),
    ],
    "train/bc/toy_0002": [
        (None, ["[ARG0 She] [V gave] [ARG2 her brother] [ARG1 a book] ."]),
        (None, [
            "[ARG0 He] [V wanted] [ARG1 to buy a car] .",
            "[ARG0 He] wanted to [V buy] [ARG1 a car] .",
        ]),
        ("[ORG The board] approved the plan [DATE yesterday] .",
         ["[ARG0 The board] [V approved] [ARG1 the plan] [ARGM-TMP yesterday] ."]),
        ("The meeting ended at noon in [GPE London] .",
         ["[ARG1 The meeting] [V ended] [ARGM-TMP at noon] [ARGM-LOC in London] ."]),
    ],
    "development/nw/toy_0003": [
        ("The bank sold the bonds on [DATE Friday] .",
         ["[ARG0 The bank] [V sold] [ARG1 the bonds] [ARGM-TMP on Friday] ."]),
        (None, [
            "[ARG0 They] [V said] [ARG1 prices would fall] .",
            "They said [ARG1 prices] [ARGM-MOD would] [V fall] .",
        ]),
        (None, ["[ARG0 The teacher] [V gave] [ARG2 the students] [ARG1 a test] ."]),
    ],
    "test/nw/toy_0004": [
        (None, ["[ARG0 The firm] [V approved] [ARG1 the deal] [ARGM-TMP on Tuesday] ."]),
        (None, [
            "[ARG0 She] [V wanted] [ARG1 to sell the house] .",
            "[ARG0 She] wanted to [V sell] [ARG1 the house] .",
        ]),
        ("Profits rose in [LOC Asia] .", ["[ARG1 Profits] [V rose] [ARGM-LOC in Asia] ."]),
    ],
}
SRL_LEMMAS = {  # of inflected predicates; base forms are their own lemma
    "sold": "sell", "said": "say", "played": "play", "fell": "fall", "gave": "give",
    "wanted": "want", "approved": "approve", "ended": "end", "rose": "rise",
}
SRL_POS = {
    "The": "DT", "the": "DT", "a": "DT", "its": "PRP$", "her": "PRP$", "She": "PRP", "He": "PRP",
    "They": "PRP", "on": "IN", "in": "IN", "at": "IN", "after": "IN", "for": "IN", "to": "TO",
    "would": "MD", "sharply": "RB", "yesterday": "NN", ".": ".", "Monday": "NNP",
    "Friday": "NNP", "Tuesday": "NNP", "London": "NNP", "Asia": "NNP", "Good": "JJ",
}

# SST: sentences from templates, the sentence's label on its adjective and on every
# node above it, 2 (neutral) on the rest.
SST_TEMPLATES = ["the {noun} is {adj} .", "the {adj} {noun} .", "overall , the {noun} was {adj} .", "the {noun} feels {adj} ."]
SST_NOUNS = ["film", "movie", "story", "acting", "script", "ending"]
SST_ADJECTIVES = {
    0: ["awful", "dreadful"], 1: ["dull", "clumsy"], 2: ["long", "familiar"],
    3: ["charming", "good"], 4: ["brilliant", "wonderful"],
}
DOWNSTREAM_SIZES = {"train": 20, "dev": 8, "test": 8}


def make_downstream_fixtures() -> None:
    """Writes every downstream fixture and the tiny pretrained archive."""
    make_conll2003(os.path.join(DOWNSTREAM_DIR, "conll2003"))
    make_conll2012(os.path.join(DOWNSTREAM_DIR, "conll2012"))
    make_sst(os.path.join(DOWNSTREAM_DIR, "sst"))
    make_classification(os.path.join(DOWNSTREAM_DIR, "classification"))
    make_tiny_archive(os.path.join(ARCHIVE_DIR, "model.tar.gz"))


def make_conll2003(directory: str) -> None:
    """
    Train, dev and test files in CoNLL-2003 columns.  Train goes through the templates
    and each type's entities in order, so that every kind of entity (type and length,
    which decide its BIOUL tags) of dev and test occurs in train; dev and test draw
    templates and entities at random.
    """
    train_entities = None
    for offset, (split, size) in enumerate(DOWNSTREAM_SIZES.items()):
        if split == "train":
            entities = {kind: itertools.cycle(names) for kind, names in NER_ENTITIES.items()}
            sentences = [ner_sentence(NER_TEMPLATES[i % len(NER_TEMPLATES)], entities) for i in range(size)]
        else:
            rng = random.Random(SEED + offset)
            entities = {kind: _draws(rng, names) for kind, names in NER_ENTITIES.items()}
            sentences = [ner_sentence(rng.choice(NER_TEMPLATES), entities) for _ in range(size)]
        kinds = set().union(*(ner_entities(rows) for rows in sentences))
        train_entities = kinds if train_entities is None else train_entities
        assert kinds <= train_entities, f"{split} has entities unlike any in train: {kinds - train_entities}"
        write_text(os.path.join(directory, f"{split}.txt"), conll2003_text(sentences))


def _draws(rng: random.Random, names: List[str]) -> Iterator[str]:
    while True:
        yield rng.choice(names)


def ner_sentence(template: str, entities: Dict[str, Iterator[str]]) -> List[Tuple[str, str, str, str]]:
    """
    `(word, POS, chunk, NER)` rows for a template with its slots filled, tagged in
    IOB1: `I-` throughout an entity, `B-` only on the first word of an entity that
    directly follows another of the same type.
    """
    rows: List[Tuple[str, str, str, str]] = []
    previous_kind = None
    for word in template.split():
        if not word.startswith("{"):
            rows.append((word,) + NER_WORDS[word] + ("O",))
            previous_kind = None
            continue
        kind = word[1:-1]
        for position, name_word in enumerate(next(entities[kind]).split()):
            prefix = "B" if position == 0 and previous_kind == kind else "I"
            rows.append((name_word, "JJ" if kind == "MISC" else "NNP", "I-NP", f"{prefix}-{kind}"))
        previous_kind = kind
    return rows


def ner_entities(rows: Sequence[Tuple[str, str, str, str]]) -> set:
    """The entities of IOB1-tagged rows as "TYPE/number of words" (what decides their BIOUL tags)."""
    entities: List[List] = []
    previous = "O"
    for *_, tag in rows:
        if tag != "O":
            prefix, kind = tag.split("-", 1)
            if prefix == "B" or previous == "O" or previous.split("-", 1)[1] != kind:
                entities.append([kind, 0])
            entities[-1][1] += 1
        previous = tag
    return {f"{kind}/{length}" for kind, length in entities}


def conll2003_text(sentences: List[List[Tuple[str, str, str, str]]]) -> str:
    """Sentences as CoNLL-2003 lines, a `-DOCSTART-` line opening each document."""
    lines = []
    for index, rows in enumerate(sentences):
        if index % NER_SENTENCES_PER_DOCUMENT == 0:
            lines.extend(["-DOCSTART- -X- -X- O", ""])
        lines.extend(" ".join(row) for row in rows)
        lines.append("")
    return "\n".join(lines) + "\n"


def make_conll2012(directory: str) -> None:
    """One `.gold_conll` file per document of `SRL_DOCUMENTS`, under its split and genre."""
    train_tags = srl_tags("train")
    for name, sentences in SRL_DOCUMENTS.items():
        split, genre, document = name.split("/")
        assert srl_tags(split) <= train_tags, f"{split} has SRL tags unseen in train"
        document_id = f"{genre}/toy/00/{document}"
        text = f"#begin document ({document_id}); part 000\n"
        text += "".join(conll2012_sentence(document_id, ner, frames) + "\n" for ner, frames in sentences)
        text += "#end document\n"
        write_text(os.path.join(directory, split, genre, f"{document}.gold_conll"), text)


def srl_tags(split: str) -> set:
    """The BIO tags of every frame of a split (what the `srl` reader makes of them)."""
    tags = set()
    for name, sentences in SRL_DOCUMENTS.items():
        if not name.startswith(split + "/"):
            continue
        for _, frames in sentences:
            for frame in frames:
                _, spans = parse_brackets(frame)
                tags.update(f"B-{label}" for label, _, _ in spans)
                tags.update(f"I-{label}" for label, start, end in spans if end > start)
    return tags


def parse_brackets(text: str) -> Tuple[List[str], List[Tuple[str, int, int]]]:
    """
    `"[ARG0 The company] [V sold] it ."` -> the words and the labelled spans
    `(label, first word, last word)`.
    """
    words: List[str] = []
    spans: List[Tuple[str, int, int]] = []
    label: Optional[str] = None
    for piece in text.split():
        if piece.startswith("["):
            label, start = piece[1:], len(words)
            continue
        words.append(piece.rstrip("]") if label else piece)
        if label and piece.endswith("]"):
            spans.append((label, start, len(words) - 1))
            label = None
    return words, spans


def span_column(num_words: int, spans: List[Tuple[str, int, int]]) -> List[str]:
    """CoNLL-2012 bracket column: `(ARG0*`, `*`, `*)`, or `(V*)` for one word."""
    column = ["*"] * num_words
    for label, start, end in spans:
        column[start] = f"({label}*"
        column[end] = column[end] + ")" if start != end else f"({label}*)"
    return column


def conll2012_sentence(document_id: str, ner: Optional[str], frames: List[str]) -> str:
    """
    A sentence's rows: document, part, word number, word, POS, parse bit (the flat
    `(TOP*` ... `*)` of unparsed OntoNotes text), lemma and frameset of predicates,
    word sense, speaker, named entities, one column per predicate (in sentence
    order, as the reader pairs them) and coreference.
    """
    parsed = sorted((parse_brackets(frame) for frame in frames), key=lambda p: _verb_index(p[1]))
    words, ner_spans = parse_brackets(ner) if ner else (parsed[0][0], [])
    assert all(frame_words == words for frame_words, _ in parsed), f"frames disagree on the words of {words}"
    predicates = {_verb_index(spans): words[_verb_index(spans)] for _, spans in parsed}
    columns = [span_column(len(words), ner_spans)] + [span_column(len(words), spans) for _, spans in parsed]
    if not parsed:
        columns.append(["*"] * len(words))
    rows = []
    for i, word in enumerate(words):
        parse = "(TOP*)" if len(words) == 1 else "(TOP*" if i == 0 else "*)" if i == len(words) - 1 else "*"
        lemma, frameset = (SRL_LEMMAS.get(word, word), "01") if i in predicates else ("-", "-")
        pos = ("VB" if lemma == word else "VBD") if i in predicates else SRL_POS.get(word, "NN")
        fields = [document_id, "0", str(i), word, pos, parse, lemma, frameset, "-", "-"]
        fields += [column[i] for column in columns] + ["-"]
        rows.append("  ".join(fields) + "\n")
    return "".join(rows)


def _verb_index(spans: List[Tuple[str, int, int]]) -> int:
    return next(start for label, start, _ in spans if label == "V")


def make_sst(directory: str) -> None:
    """SST trees; labels cycle 0-4, so every split has every class (and both binary ones)."""
    for offset, (split, size) in enumerate(DOWNSTREAM_SIZES.items()):
        rng = random.Random(SEED + 10 + offset)
        lines = []
        for i in range(size):
            label = i % 5
            template = SST_TEMPLATES[i % len(SST_TEMPLATES)] if split == "train" else rng.choice(SST_TEMPLATES)
            adjective = rng.choice(SST_ADJECTIVES[label])
            words = template.format(noun=rng.choice(SST_NOUNS), adj=adjective).split()
            lines.append(sst_tree(words, words.index(adjective), label) + "\n")
        write_text(os.path.join(directory, f"{split}.txt"), "".join(lines))


def make_classification(directory: str) -> None:
    """
    JSON lines {"text", "label"} for `text_classification_json`: the SST sentences,
    labelled "negative" or "positive" by their adjective (neutral ones left out).
    """
    for offset, (split, size) in enumerate(DOWNSTREAM_SIZES.items()):
        rng = random.Random(SEED + 20 + offset)
        lines = []
        for i in range(size):
            label = (0, 1, 3, 4)[i % 4]
            template = SST_TEMPLATES[i % len(SST_TEMPLATES)] if split == "train" else rng.choice(SST_TEMPLATES)
            text = template.format(noun=rng.choice(SST_NOUNS), adj=rng.choice(SST_ADJECTIVES[label]))
            lines.append(json.dumps({"text": text, "label": "negative" if label < 2 else "positive"}) + "\n")
        write_text(os.path.join(directory, f"{split}.jsonl"), "".join(lines))


def sst_tree(words: List[str], key: int, label: int) -> str:
    """A right-branching tree: `label` on the root, on word `key` and on the nodes above it."""
    if len(words) == 1:
        return f"({label if key == 0 else 2} {words[0]})"
    return f"({label if key >= 0 else 2} {sst_tree(words[:1], key, label)} {sst_tree(words[1:], key - 1, label)})"


def make_tiny_archive(archive_path: str) -> None:
    """
    Trains `fixtures/configs/elmo_c_tiny.jsonnet` for one epoch with fixed seeds (one
    thread, run from the repository root with relative fixture paths) and keeps only
    its `model.tar.gz`.
    """
    environment = dict(
        os.environ,
        ELMO_C_FIXTURES="fixtures",
        ELMO_C_TEST_TARGETS=os.path.join("fixtures", "targets", "fasttext.bin"),
        ELMO_C_TEST_LOSS="cosine",
        ELMO_C_TEST_INPUT="characters",
        OMP_NUM_THREADS="1",
    )
    overrides = '{"trainer.num_epochs": 1, "random_seed": 13, "numpy_seed": 13, "pytorch_seed": 13}'
    with tempfile.TemporaryDirectory() as work_dir:
        environment["ELMO_C_CACHE"] = os.path.join(work_dir, "cache")
        serialization_dir = os.path.join(work_dir, "model")
        command = [sys.executable, "-m", "allennlp", "train", os.path.join("fixtures", "configs", "elmo_c_tiny.jsonnet"),
                   "-s", serialization_dir, "--include-package", "elmo_c", "-o", overrides]
        result = subprocess.run(command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            sys.exit(f"training the tiny archive failed:\n{result.stderr[-3000:]}")
        os.makedirs(os.path.dirname(archive_path), exist_ok=True)
        shutil.copyfile(os.path.join(serialization_dir, "model.tar.gz"), archive_path)


# -- subword fixture ----------------------------------------------------------------------

SUBWORDS_DIR = os.path.join(ROOT, "fixtures", "subwords")


def make_subwords(train_path: str) -> str:
    """`fixtures/subwords/bpe.model`, trained from an iterator, so it holds no path of this machine."""
    from elmo_c.commands.build_subwords import train_subwords

    settings = dict(vocab_size=128, character_coverage=1.0, max_sentences=0, normalization="identity")
    output = os.path.join(SUBWORDS_DIR, "bpe.model")
    return train_subwords([train_path], output, threads=1, seed=SEED, verbose=False, **settings)


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

    make_downstream_fixtures()
    for directory, _, names in sorted(os.walk(DOWNSTREAM_DIR)) + [(ARCHIVE_DIR, None, ["model.tar.gz"])]:
        for name in sorted(names):
            path = os.path.join(directory, name)
            print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")

    subwords = make_subwords(train_path)
    print(f"wrote {os.path.relpath(subwords, ROOT)} ({os.path.getsize(subwords)} bytes)")


if __name__ == "__main__":
    main()
