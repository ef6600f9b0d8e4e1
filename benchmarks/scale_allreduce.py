"""
Part d of the scale benchmarks (`scale.py`): all-reduce bytes (`allreduce`).

ELMo-C (`elmo_c.jsonnet`) and ELMo (`elmo.jsonnet`, sampled softmax, sparse and
dense) are built at the paper size with an 800K-word vocabulary.  One backward pass
on a tiny batch tells which parameters receive gradients: DDP all-reduces numel x
element size of each dense one per step.  A sparse gradient covers only the rows a
batch touches: the output layer is run on one batch of 64 x 20 Zipf-distributed
targets per direction (each direction draws its own 8192 negative samples) and the
rows of the coalesced gradient, values and int64 indices, are counted.  ELMo-C's
target lookups return random vectors there (the 800K x 300 table is not needed to
count bytes).
"""
import time
from typing import Any, Dict, List, Tuple

import numpy
import torch
from allennlp.common import Params
from allennlp.models import Model

from benchmarks.report import Benchmark, Section, Table
from benchmarks.scale_common import Settings, config_dict, run_child, vocabulary, words_of, zipf_ranks


def child_allreduce(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Bytes of dense gradients and of one batch's sparse gradient rows of a config's model."""
    words = words_of(spec["vocab_size"] - 2)
    vocab = vocabulary(words)
    config = config_dict(spec["config"])["model"]
    config["output_layer"].update(spec.get("output_layer", {}))
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(config))
    _fake_target_lookups(model)
    model.train()
    rng = numpy.random.default_rng(spec["seed"])
    model(**_tiny_batch(len(words), rng))["loss"].backward()
    dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    sparse = [p for p in model.parameters() if p.grad is not None and p.grad.is_sparse]
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    rows, sparse_bytes = _sparse_rows_of_a_batch(model, sparse, len(words), spec["batch"], rng)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "dense_bytes": sum(p.numel() * p.element_size() for p in dense),
        "sparse_parameters_bytes": sum(p.numel() * p.element_size() for p in sparse),
        "sparse_rows": rows,
        "sparse_bytes": sparse_bytes,
        "unused": unused,
    }


def _fake_target_lookups(model: Model) -> None:
    """ELMo-C's table is not needed to count bytes: lookups return random vectors."""
    targets = getattr(model.output_layer, "target_embeddings", None)
    if targets is not None:
        dim = targets.embedding_dim
        targets.lookup = lambda ids: (torch.randn(ids.shape + (dim,)), torch.ones(ids.shape, dtype=torch.bool))


def _tiny_batch(num_words: int, rng: numpy.random.Generator) -> Dict[str, Any]:
    ids = torch.from_numpy(zipf_ranks(num_words, (2, 6), rng) + 2)
    characters = torch.randint(1, 262, (2, 6, 50))
    return {"source": {"elmo_characters": {"elmo_tokens": characters}, "tokens": {"tokens": ids}}}


def _sparse_rows_of_a_batch(
    model: Model, sparse: List[torch.Tensor], num_words: int, batch: List[int], rng: numpy.random.Generator
) -> Tuple[int, int]:
    """Rows (and bytes: values + int64 indices) of the coalesced sparse gradients of one full batch."""
    if not sparse:
        return 0, 0
    model.zero_grad(set_to_none=True)
    sentences, length = batch
    stream = torch.from_numpy(zipf_ranks(num_words, (sentences, length + 1), rng) + 2)
    hidden_dim = model.encoder.get_output_dim()
    total = 0.0
    for direction, targets in enumerate((stream[:, 1:], stream[:, :-1])):
        hidden = torch.randn(sentences * length, hidden_dim)
        total = total + model.output_layer(hidden, targets.reshape(-1), direction)[0]
    total.backward()
    rows = nbytes = 0
    for parameter in sparse:
        gradient = parameter.grad.coalesce()
        values = gradient.values()
        rows = max(rows, values.shape[0])
        nbytes += values.numel() * values.element_size() + gradient.indices().numel() * 8
    return rows, nbytes


def allreduce_bytes(settings: Settings) -> Section:
    """Part d: bytes that DDP all-reduces per step for ELMo-C and ELMo (sparse and dense)."""
    started = time.perf_counter()
    base = {"vocab_size": settings.allreduce_vocab, "batch": list(settings.allreduce_batch), "seed": settings.seed}
    variants = {
        "elmo_c": {**base, "config": settings.allreduce_configs["elmo_c"]},
        "elmo_sparse": {**base, "config": settings.allreduce_configs["elmo"],
                        "output_layer": {"sparse": True, "num_samples": settings.num_samples}},
    }
    if settings.build_dense_elmo:
        variants["elmo_dense"] = {**base, "config": settings.allreduce_configs["elmo"],
                                  "output_layer": {"sparse": False, "num_samples": settings.num_samples}}
    table = Table(
        f"Gradient bytes per step, vocabulary {settings.allreduce_vocab:,}, batch "
        f"{settings.allreduce_batch[0]} x {settings.allreduce_batch[1]}, {settings.num_samples} samples",
        ["model", "parameters", "dense gradient bytes", "sparse rows touched", "sparse gradient bytes",
         "sparse parameters' full size (bytes)", "bytes to all-reduce per step"],
    )
    section = PART.result(_ALLREDUCE_DESCRIPTION, tables=[table])
    totals, results = {}, {}
    for name, spec in variants.items():
        result = results[name] = run_child(child_allreduce, spec, settings)
        totals[name] = result["dense_bytes"] + result["sparse_bytes"]
        table.add(name, result["parameters"], result["dense_bytes"], result["sparse_rows"] or None,
                  result["sparse_bytes"] or None, result["sparse_parameters_bytes"] or None, totals[name])
        if result["unused"]:
            section.notes.append(f"{name}: parameters without a gradient (not all-reduced): {result['unused']}")
    if "elmo_dense" not in totals:
        sparse = results["elmo_sparse"]
        totals["elmo_dense"] = sparse["dense_bytes"] + sparse["sparse_parameters_bytes"]
        table.add("elmo_dense (derived)", sparse["parameters"], totals["elmo_dense"], None, None, None,
                  totals["elmo_dense"])
        section.notes.append(
            "elmo_dense (derived): the sparse model's dense gradients plus its sparse parameters in full, which "
            "is what `sparse: false` makes dense (the full run builds that model and measures it)."
        )
    for name in ("elmo_c", "elmo_dense", "elmo_sparse"):
        section.headlines[f"allreduce_bytes_per_step_{name}"] = totals[name]
    section.headlines["allreduce_ratio_elmo_over_elmo_c"] = totals["elmo_dense"] / totals["elmo_c"]
    section.headlines["allreduce_ratio_elmo_sparse_over_elmo_c"] = totals["elmo_sparse"] / totals["elmo_c"]
    section.notes.extend(_DDP_NOTES)
    section.seconds = time.perf_counter() - started
    return section


_ALLREDUCE_DESCRIPTION = """
What data-parallel training must reduce across workers per step: every dense
gradient in full, and for a sparse gradient the rows that one batch touched.
`allreduce_ratio_elmo_over_elmo_c` compares ELMo with a dense softmax gradient (what
DDP over NCCL all-reduces) to ELMo-C.
"""

_DDP_NOTES = [
    "How PyTorch DDP handles sparse gradients: the reducer puts each parameter that expects a sparse gradient "
    "(an `nn.Embedding(sparse=True)`, as AllenNLP's sampled softmax uses) in a bucket of its own and calls "
    "the process group's sparse all-reduce on it.  Gloo implements that as an all-gather of every rank's "
    "indices and values followed by a local sum, so each rank receives (world size - 1) x the bytes above "
    "instead of the ~2x of a ring all-reduce of a dense gradient; NCCL historically had no sparse "
    "all-reduce (DDP then fails with 'Tensors must be CUDA and dense'), so ELMo on GPUs uses the dense "
    "softmax gradient or Gloo.",
    "Dense bytes: a ring all-reduce sends and receives about 2 x (N - 1) / N of them per rank per step.",
]


PART = Benchmark(
    "allreduce",
    "d. All-reduce bytes per step",
    lambda run: allreduce_bytes(run.settings),
    headlines=(
        "allreduce_bytes_per_step_elmo_c",
        "allreduce_bytes_per_step_elmo_dense",
        "allreduce_bytes_per_step_elmo_sparse",
        "allreduce_ratio_elmo_over_elmo_c",
        "allreduce_ratio_elmo_sparse_over_elmo_c",
    ),
)
