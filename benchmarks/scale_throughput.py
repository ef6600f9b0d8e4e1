"""
Part b of the scale benchmarks (`scale.py`): pipeline against model (`throughput`).

Loader tokens/s with `num_workers` 0 (one process reading, tokenising, indexing to
ELMo character ids and word ids, and batching: the work of one worker) for the paper
config's reader (windows) and the small config's (sentences).  Model tokens/s:
training steps (zero grad, forward, backward, clip to 1, the config's optimizer) of
the models of `elmo_c_small.jsonnet` and `elmo_c.jsonnet` on batches from that
loader, with 300-d random targets; the paper model with a small batch, as a CPU
cannot do more in minutes.  Tokens are every non-padding position (sentence
boundaries included).  Workers needed = ceil(model rate / per-worker loader rate).
"""
import itertools
import math
import os
import time
from typing import Any, Dict, List

import torch
from allennlp.common import Params
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

from benchmarks.report import Benchmark, Section, Table
from benchmarks.scale_common import (
    BOUNDARIES,
    Corpus,
    Settings,
    batch_tokens,
    build_loader,
    child_loader,
    config_dict,
    read_words,
    run_child,
    vocabulary,
    write_random_table,
    write_words,
)
from benchmarks.timing import measure_one


def child_model(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Times training steps of a config's model on batches of its own data loader."""
    words = read_words(spec["words"]) + BOUNDARIES
    vocab = vocabulary(words)
    config = config_dict(spec["config"])
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(config["model"]))
    model.output_layer.target_embeddings.load()  # the aligned cache is built before training
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(config["trainer"]["optimizer"])
    )
    loader = build_loader(spec["config"], spec["data_path"], 0, spec["batch_size"])
    loader.index_with(vocab)
    batches = list(itertools.islice(iter(loader), spec["steps"] + 1))
    tokens: List[int] = []

    def step() -> None:
        batch = batches[len(tokens) % len(batches)]
        tokens.append(batch_tokens(batch))
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.train()
    timing = measure_one(step, warmup=1, repeats=spec["steps"], device=torch.device("cpu"))
    timed_tokens = sum(tokens[1:])  # a fast step may be called several times per round: count the calls
    return {
        "tokens_per_step": timed_tokens / len(timing.samples),
        "seconds_per_step": sum(timing.samples) / len(timing.samples),
        "tokens_per_second": timed_tokens / sum(timing.samples),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
    }


def pipeline_vs_model(settings: Settings, corpus: Corpus, directory: str) -> Section:
    """Part b: loader tokens/s per worker against the model's tokens/s per training step."""
    started = time.perf_counter()
    table = Table(
        "Data pipeline (one worker) against training steps",
        ["config", "loader tokens/s per worker", "model parameters", "batch size", "tokens/step",
         "s/step", "model tokens/s", "workers needed"],
    )
    targets = _model_targets(settings, corpus, directory)
    section = PART.result(_THROUGHPUT_DESCRIPTION, tables=[table])
    rates = {}
    for name, config in settings.model_configs.items():
        loader = run_child(child_loader, _throughput_spec(settings, corpus, config), settings)
        loader_rate = loader["tokens"] / loader["seconds"]
        model = run_child(child_model, _model_spec(settings, corpus, config, name, targets, directory), settings)
        needed = max(1, math.ceil(model["tokens_per_second"] / loader_rate))
        batch_size = settings.model_batch_sizes[name] or _config_batch_size(config)
        table.add(
            f"{name} ({os.path.basename(config)})", loader_rate, model["parameters"], batch_size,
            model["tokens_per_step"], model["seconds_per_step"], model["tokens_per_second"], needed,
        )
        rates[name] = (loader_rate, model["tokens_per_second"], needed)
    section.headlines["loader_tokens_per_s_per_worker"] = rates["paper"][0]
    section.headlines["model_tokens_per_s_small"] = rates["small"][1]
    section.headlines["model_tokens_per_s_paper"] = rates["paper"][1]
    section.headlines["loader_workers_needed_small"] = rates["small"][2]
    section.headlines["loader_workers_needed_paper"] = rates["paper"][2]
    section.notes.append(
        f"Loader rates over the 1x corpus ({corpus.tokens[1]:,} tokens) with num_workers=0; the headline per-worker "
        f"rate is the paper config's reader (20-token windows).  Model rates on this CPU "
        f"({model['threads']} torch threads); timed steps after 1 warm-up step: "
        + ", ".join(f"{steps} for {name}" for name, steps in settings.model_steps.items()) + ".  On a shared "
        "machine these CPU times vary several-fold with its load (torch's threads wait for each other when a "
        "core is taken): see the load averages above."
    )
    loader_rate = rates["paper"][0]
    gpu_workers = {speedup: math.ceil(speedup * PAPER_TOKENS_PER_S_PER_GPU / loader_rate) for speedup in (10, 30)}
    section.notes.append(
        "Workers needed = ceil(model tokens/s / loader tokens/s per worker), at least 1.  On a GPU the model "
        "consumes tokens far faster than on this CPU and the same formula applies with the GPU's rate.  The "
        f"paper's ELMo-C read about {PAPER_TOKENS_PER_S_PER_GPU:,.0f} tokens/s per GPU (10 epochs of the 1B Word "
        "benchmark's 0.8B training tokens, as ELMo, in 2.5 days on 4 GPUs of 2018); a current GPU 10x or 30x "
        f"as fast would need {gpu_workers[10]} or {gpu_workers[30]} loader worker(s) at the rate measured here, "
        "well within a GPU machine's cores.  `benchmarks/device_check.sh` measures the real end-to-end rate "
        "on a GPU."
    )
    section.seconds = time.perf_counter() - started
    return section


# ELMo-C in the paper: 10 epochs x 0.8B tokens in 2.5 days on 4 GPUs.
PAPER_TOKENS_PER_S_PER_GPU = 10 * 0.8e9 / (2.5 * 86_400 * 4)

_THROUGHPUT_DESCRIPTION = """
Tokens per second that one data-loading process produces (read, tokenise, index to
ELMo character ids and word ids, batch) against the tokens per second that a training
step consumes, for the small and the paper-size config.
"""


def _config_batch_size(config: str) -> int:
    return config_dict(config)["data_loader"]["batch_sampler"]["batch_size"]


def _model_targets(settings: Settings, corpus: Corpus, directory: str) -> str:
    """A random target table for the corpus vocabulary (padding, OOV, words, boundaries)."""
    path = os.path.join(directory, "model_targets.npy")
    words = ["@@PADDING@@", "@@UNKNOWN@@"] + read_words(corpus.words_path) + BOUNDARIES
    write_random_table(path, len(words), settings.target_dim, settings.seed)
    write_words(path[: -len(".npy")] + ".words.txt", words)
    return path


def _throughput_spec(settings: Settings, corpus: Corpus, config: str) -> Dict[str, Any]:
    return {"words": corpus.words_path, "config": config, "data_path": corpus.globs[1], "num_workers": 0,
            "batch_size": settings.loader_batch_size if config == settings.loader_config else None}


def _model_spec(
    settings: Settings, corpus: Corpus, config: str, name: str, targets: str, directory: str
) -> Dict[str, Any]:
    env = {
        "ELMO_C_TARGETS": targets,
        "ELMO_C_TARGETS_DIM": str(settings.target_dim),
        "ELMO_C_TEST_TARGETS": targets,
        "ELMO_C_CACHE": os.path.join(directory, "cache"),
    }
    return {"words": corpus.words_path, "config": config, "data_path": corpus.globs[1],
            "batch_size": settings.model_batch_sizes[name], "steps": settings.model_steps[name], "env": env}


PART = Benchmark(
    "throughput",
    "b. Data pipeline against model",
    lambda run: pipeline_vs_model(run.settings, run.corpus, run.directory),
    headlines=(
        "loader_tokens_per_s_per_worker",
        "model_tokens_per_s_small",
        "model_tokens_per_s_paper",
        "loader_workers_needed_small",
        "loader_workers_needed_paper",
    ),
)
