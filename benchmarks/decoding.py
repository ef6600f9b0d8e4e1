"""
One figure for every variant: the perplexity of the next word, and the top-k of
the same distribution, over the same words and positions.

The softmax models (ELMo, ELMo-A) have a distribution over words.  ELMo-C
predicts a direction, not a distribution; nearest-neighbour ranking ignores how
frequent words are, which is why its top-10 trails a unigram model's.  The
distribution an ELMo-C model implies is

    p(w | context)  proportional to  p(w) * exp(kappa * cos(prediction, target(w)))

(a von Mises-Fisher likelihood of the word's vector times its prior): one
parameter, `kappa`, fitted by maximum likelihood on *training* sentences (never
on the text it is scored on), and the prior the unigram model's own.  Kappa is
fitted on text the model was trained on, where its predictions are better than on
new text; that makes kappa too large if anything, which can only raise the
validation perplexity.

All distributions are over the same candidates (the measured words: not padding,
the OOV token or sentence boundaries; a softmax's probabilities are renormalised
over them) at the same positions of whole validation sentences, so the numbers
are comparable across variants, and beside the unigram model's.

    .venv/bin/python benchmarks/decoding.py ARCHIVE --fit TRAIN.txt --valid VALID.txt [--fit-sentences 2000]

`quality.py` runs it for every variant and puts it in RESULTS_quality.md.
"""
import argparse
import itertools
import json
import math
import os
import sys
from typing import Dict, Iterator, Tuple

import numpy
import torch

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

TOP_K = (1, 10)
# Kappa is searched on this grid (log spaced), then refined around the best point.
KAPPA_GRID = numpy.geomspace(0.01, 1000.0, 51)


def decoding_figures(archive: str, fit_path: str, valid_path: str, fit_sentences: int = 2000) -> Dict[str, float]:
    """The perplexity and top-k of the model's next-word distribution on `valid_path`, beside a unigram model's."""
    model, reader = _load(archive)
    scorer = _Scorer(model)
    figures: Dict[str, float] = {}
    if scorer.needs_kappa:
        fit = list(itertools.islice(_sentences(fit_path), fit_sentences))
        figures["kappa"] = scorer.fit_kappa(_positions(model, reader, fit))
    totals = scorer.evaluate(_positions(model, reader, list(_sentences(valid_path))))
    figures.update(totals)
    return figures


class _Scorer:
    """Log-probabilities over the measured words from a model's states; see the module docstring."""

    def __init__(self, model) -> None:
        layer = model.output_layer
        if not hasattr(layer, "target_embeddings") and not getattr(layer, "_has_word_scores", False):
            raise ValueError(f"{type(layer).__name__} has no distribution over words to score")
        if getattr(getattr(layer, "ranking", None), "counts", None) is None:
            raise ValueError("the model's vocabulary has no word counts (train with the `counted` vocabulary)")
        self.layer = layer
        self.measured = layer.ranking.measured.cpu()
        counts = torch.from_numpy(layer.ranking.counts).double()
        prior = (counts + 1.0) * self.measured  # add-one: a measured word never seen still gets a chance
        self.log_prior = torch.log(prior / prior.sum()).float().masked_fill(~self.measured, float("-inf"))
        self.needs_kappa = hasattr(layer, "target_embeddings")
        self.kappa = math.inf
        if self.needs_kappa:
            self.units = torch.cat([rows for rows, _ in layer.target_embeddings.unit_chunks(65536, torch.device("cpu"))])

    def scores(self, hidden: torch.Tensor, direction: int) -> torch.Tensor:
        """Cosines to every word (ELMo-C) or the softmax's log-probabilities, `(positions, words)`."""
        head = self.layer.head(direction)
        if self.needs_kappa:
            predictions = torch.nn.functional.normalize(head(hidden).float(), dim=-1)
            return predictions @ self.units.t()
        classes = self.layer._word_scores(head, hidden).float()
        return torch.cat([torch.full((len(hidden), 1), float("-inf")), torch.log_softmax(classes, dim=-1)], dim=1)

    def log_probabilities(self, scores: torch.Tensor, kappa: float) -> torch.Tensor:
        logits = kappa * scores + self.log_prior if self.needs_kappa else scores.masked_fill(~self.measured, float("-inf"))
        return torch.log_softmax(logits, dim=-1)

    def fit_kappa(self, positions: Iterator[Tuple[torch.Tensor, torch.Tensor, int]]) -> float:
        """The kappa of the largest likelihood of the fit positions (grid, then a parabola through the best three)."""
        nll = numpy.zeros(len(KAPPA_GRID))
        for hidden, targets, direction in positions:
            scores = self.scores(hidden, direction)
            for index, kappa in enumerate(KAPPA_GRID):
                nll[index] -= self.log_probabilities(scores, kappa).gather(1, targets.unsqueeze(1)).sum().item()
        best = int(numpy.argmin(nll))
        self.kappa = float(KAPPA_GRID[best]) if best in (0, len(KAPPA_GRID) - 1) else _parabola_minimum(
            numpy.log(KAPPA_GRID[best - 1 : best + 2]), nll[best - 1 : best + 2]
        )
        return self.kappa

    def evaluate(self, positions: Iterator[Tuple[torch.Tensor, torch.Tensor, int]]) -> Dict[str, float]:
        sums = {"model": 0.0, "unigram": 0.0}
        hits = {f"{name}_top{k}": 0 for name in ("model", "unigram", "neighbour") for k in TOP_K}
        count = 0
        for hidden, targets, direction in positions:
            scores = self.scores(hidden, direction)
            log_probabilities = self.log_probabilities(scores, self.kappa)
            unigram = self.log_prior.expand_as(log_probabilities)
            rankings = {"model": log_probabilities, "unigram": unigram}
            if self.needs_kappa:
                rankings["neighbour"] = scores.masked_fill(~self.measured, -2.0)
            for name, ranking in rankings.items():
                own = ranking.gather(1, targets.unsqueeze(1))
                better = (ranking > own).sum(dim=1)
                for k in TOP_K:
                    hits[f"{name}_top{k}"] += int((better < k).sum())
            sums["model"] -= log_probabilities.gather(1, targets.unsqueeze(1)).sum().item()
            sums["unigram"] -= unigram.gather(1, targets.unsqueeze(1)).sum().item()
            count += len(targets)
        figures = {"positions": count, "perplexity": math.exp(sums["model"] / count),
                   "unigram_perplexity": math.exp(sums["unigram"] / count)}
        figures.update({name: value / count for name, value in hits.items() if value or not name.startswith("neighbour")})
        return figures


def _parabola_minimum(x: numpy.ndarray, y: numpy.ndarray) -> float:
    a, b, _ = numpy.polyfit(x, y, 2)
    return float(math.exp(-b / (2 * a))) if a > 0 else float(math.exp(x[1]))


def _load(archive: str):
    from allennlp.data import DatasetReader
    from allennlp.models.archival import load_archive

    import elmo_c  # noqa: F401

    loaded = load_archive(archive)
    params = loaded.config["dataset_reader"].duplicate()
    params["window_size"] = None  # whole sentences, as every variant is scored
    model = loaded.model.eval()
    return model, DatasetReader.from_params(params)


def _sentences(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as stream:
        yield from (line.strip() for line in stream if line.strip())


@torch.no_grad()
def _positions(model, reader, sentences, batch_size: int = 64) -> Iterator[Tuple[torch.Tensor, torch.Tensor, int]]:
    """(states, targets, direction) at the measured positions of each batch of sentences."""
    from allennlp.data import Batch
    from allennlp.nn.util import get_text_field_mask

    measured = model.output_layer.ranking.measured.cpu()
    half = model.encoder.get_output_dim()
    for start in range(0, len(sentences), batch_size):
        instances = [reader.text_to_instance(sentence) for sentence in sentences[start : start + batch_size]]
        for instance in instances:
            reader.apply_token_indexers(instance)
        batch = Batch(instances)
        batch.index_instances(model.vocab)
        source = batch.as_tensor_dict()["source"]
        states = model.layer_outputs(source, get_text_field_mask(source))[-1]
        for direction, targets in enumerate(model._targets(source[model.target_indexer]["tokens"])):
            keep = measured[targets] & (targets > 0)
            half_states = states[..., :half] if direction == 0 else states[..., half:]
            yield half_states[keep], targets[keep], direction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("--fit", required=True, help="training sentences to fit kappa on")
    parser.add_argument("--valid", required=True, help="the sentences scored")
    parser.add_argument("--fit-sentences", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(decoding_figures(args.archive, args.fit, args.valid, args.fit_sentences), indent=2))


if __name__ == "__main__":
    main()
