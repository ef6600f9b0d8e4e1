"""
4. Peak training memory of each variant at V = 800K.

What: every variant of `variants.py` trains for a few steps in a fresh Python
process of its own (so that no allocator cache or earlier model skews it), which
reports:

- `training peak`: the peak resident memory (VmHWM) during the measured training
  steps: after the model, optimizer and batches are built and one warm-up step
  has run (it allocates the optimizer's state and pages in the code of every
  kernel the step uses), the high-water mark is reset (`/proc/self/clear_refs`),
  so construction transients (e.g. `SampledSoftmaxLoss` builds its 800K-row
  table twice) do not count; this is the whole process, Python, torch and
  AllenNLP's code included;
- `after imports`: resident memory once torch, AllenNLP and elmo_c are imported,
  before the vocabulary and the model exist (the same for every variant);
- `training above imports`: the difference, what training itself holds (model,
  gradients, optimizer state, activations, the vocabulary, the code pages of the
  kernels the step runs, and for ELMo-C the rows of the memory-mapped target
  table that were read);
- `allocated above imports` (the headline on a CPU): the same without the
  file-backed pages, i.e. the anonymous memory training allocates (tensors,
  optimizer state, the vocabulary), as `max_memory_allocated` counts on a GPU.
  The file-backed pages it leaves out are shared-library code (torch's kernels
  are paged in on first use, much the same for every variant) and ELMo-C's
  memory-mapped target rows: page cache that every process on the machine
  shares and the kernel can reclaim.  They are shown apart;
- `of which vocabulary`: what the AllenNLP `Vocabulary` of V words adds (the same
  for every variant: any of them needs it);
- `file-backed growth`: the resident pages mapped from files (RssFile) at the end
  of the steps minus those after the imports;
- `process peak`: the peak over the whole process (VmHWM), construction included;
- on a GPU, `torch.cuda.max_memory_allocated` during the training steps.

How: `python -m benchmarks.memory --worker MODE VARIANT SIZE ...` per variant, run
one after the other; the parent collects one JSON line from each.

    .venv/bin/python benchmarks/memory.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

import torch

from benchmarks import plots
from benchmarks.common import SIZES, Config, make_config
from benchmarks.report import Benchmark, Plot, Section, Table, describe, ratio
from benchmarks.timing import synchronize
from benchmarks.variants import (
    LABELS,
    STEP_VARIANTS,
    build_model,
    build_variant_optimizer,
    make_batches,
    parameter_bytes,
    training_step,
)

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 2**20


def _status_kib(field: str) -> float:
    """A field of /proc/self/status, in KiB (NaN where there is none)."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
        return True
    except OSError:
        return False


def worker(mode: str, variant: str, size_name: str, device: str, cache_dir: str) -> Dict:
    """Trains one variant for `memory_steps` steps in this process; its memory figures, in MiB."""
    after_imports, file_after_imports = _status_kib("VmRSS"), _status_kib("RssFile")
    config = make_config(mode, device, cache_dir, memory_budget_gb=1e6)
    corpus = config.corpus()
    corpus.vocab  # noqa: B018  (built now, to measure it apart)
    after_vocabulary = _status_kib("VmRSS")
    model = build_model(variant, SIZES[size_name], corpus, config)
    batches = make_batches(variant, corpus, config.batch(size_name), 2, config.device)
    optimizer = build_variant_optimizer(variant, model)
    step = training_step(model, optimizer, batches)
    step()  # warm-up: the optimizer's state exists from here on, and the kernels' code is paged in
    synchronize(config.device)
    on_gpu = config.device.type == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(config.device)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent
    # process across fork and exec, so a child reports at least its parent's peak.
    construction_peak = _status_kib("VmHWM")
    reset = _reset_peak()
    for _ in range(config.memory_steps):
        step()
    synchronize(config.device)
    training_peak, file_backed = _status_kib("VmHWM"), _status_kib("RssFile")
    return {
        **_held_tensors_mib(model, optimizer),
        "variant": variant,
        "size": size_name,
        "training_peak_mib": training_peak / 1024,
        "after_imports_mib": after_imports / 1024,
        # File-backed pages only grow once the warm-up step has paged the code in, so
        # the peak's anonymous part is the peak less the file-backed pages at the end.
        "allocated_above_mib": ((training_peak - file_backed) - (after_imports - file_after_imports)) / 1024,
        "vocabulary_mib": (after_vocabulary - after_imports) / 1024,
        "file_backed_growth_mib": (file_backed - file_after_imports) / 1024,
        "process_peak_mib": max(construction_peak, training_peak) / 1024,
        "peak_was_reset": reset,
        "gpu_peak_mib": torch.cuda.max_memory_allocated(config.device) / MIB if on_gpu else None,
    }


def _held_tensors_mib(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, float]:
    """What the model and optimizer hold after a step, in MiB: weights, gradients (sparse ones as stored), state."""
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    state = [t for values in optimizer.state.values() for t in values.values() if isinstance(t, torch.Tensor)]
    return {
        "weights_mib": parameter_bytes(model) / MIB,
        "gradients_mib": _bytes(gradients) / MIB,
        "optimizer_state_mib": _bytes(state) / MIB,
    }


def _bytes(tensors: List[torch.Tensor]) -> int:
    total = 0
    for tensor in tensors:
        if tensor.is_sparse:
            total += _bytes([tensor._values(), tensor._indices()])
        else:
            total += tensor.numel() * tensor.element_size()
    return total


def _run_worker(variant: str, size_name: str, config: Config) -> Dict:
    command = [
        sys.executable, "-m", "benchmarks.memory", "--worker", config.mode, variant, size_name,
        "--device", str(config.device), "--cache-dir", config.cache_dir, "--threads", str(torch.get_num_threads()),
    ]
    environment = dict(os.environ, PYTHONPATH=REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"memory worker {variant}/{size_name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    table = Table(
        f"Peak memory at V={config.vocab_size:,}, {config.memory_steps} training steps, MiB",
        ["size", "batch", "variant", "training peak", "after imports", "training above imports",
         "allocated above imports", "of which vocabulary", "file-backed growth", "process peak", "GPU peak",
         "allocated / ELMo-C's"],
    )
    variants = config.memory_variants or list(STEP_VARIANTS)
    above: Dict[str, List[float]] = {LABELS[v]: [] for v in variants}
    on_gpu = config.device.type == "cuda"
    composition = []
    for size_name in config.memory_sizes:
        results = {variant: _run_worker(variant, size_name, config) for variant in variants}
        for result in results.values():
            result["above_mib"] = result["training_peak_mib"] - result["after_imports_mib"]
            result["headline_mib"] = result["gpu_peak_mib"] if on_gpu else result["allocated_above_mib"]
        batch_size, length = config.batch(size_name)
        for variant, result in results.items():
            table.add(
                size_name, f"{batch_size}x{length}", LABELS[variant], result["training_peak_mib"],
                result["after_imports_mib"], result["above_mib"], result["allocated_above_mib"],
                result["vocabulary_mib"], result["file_backed_growth_mib"], result["process_peak_mib"],
                result["gpu_peak_mib"], ratio(result["headline_mib"], results["elmo_c"]["headline_mib"]),
            )
            above[LABELS[variant]].append(result["headline_mib"])
        _size_headlines(section, size_name, results, on_gpu)
        if {"encoder_only", "elmo_c", "elmo"} <= set(results):
            composition.append(_composition(size_name, results, on_gpu))
    largest = config.memory_sizes[-1]
    section.headlines["peak_memory_ratio_elmo_over_elmo_c"] = section.headlines[
        f"peak_memory_ratio_elmo_over_elmo_c_{largest}"
    ]
    section.tables.append(table)
    section.notes += [
        "`peak_memory_ratio_elmo_over_elmo_c_<size>` compares the memory training allocates above the imports "
        "(`allocated above imports`; on a GPU: max_memory_allocated).  `peak_memory_rss_ratio_..._<size>` "
        "compares resident memory above the imports, file-backed pages included, and "
        "`peak_memory_process_ratio_..._<size>` the whole process' training peak.  The headline without a size "
        f"is at the largest size measured, {largest}.",
        "`..._without_vocabulary_<size>` leaves out the AllenNLP `Vocabulary` of V words, which every variant "
        "holds alike (on a CPU only: on a GPU the headlines are device memory, which holds no vocabulary).",
        "`peak_memory_ratio_elmo_over_encoder_only_<size>` bounds `peak_memory_ratio_elmo_over_elmo_c_<size>`: "
        "it is ELMo's memory over that of our model with no output layer at all.",
    ]
    if composition:
        section.notes.append(
            "What the memory is made of (MiB; weights, gradients and optimizer state counted from the tensors "
            "after the last step): " + "; ".join(composition) + ".  The encoder's own share grows with its size, "
            "so the ratio to ELMo falls as the encoder grows, and it can never exceed ELMo over the encoder alone."
        )
    if not all(r["peak_was_reset"] for r in results.values()):
        section.notes.append("/proc/self/clear_refs was not writable: the training peak includes construction.")
    section.plots.append(
        Plot(
            "peak_memory.png",
            lambda path: plots.bar_chart(
                path, f"Training memory allocated at V={config.vocab_size:,}", config.memory_sizes, above, "MiB"
            ),
        )
    )
    section.seconds = time.perf_counter() - started
    return section


def _composition(size_name: str, results: Dict[str, Dict], on_gpu: bool) -> str:
    """
    ELMo-C's and ELMo's memory at one size: the encoder alone split into what is
    measured (vocabulary, weights, gradients, optimizer state) and the rest, then
    what each output layer adds.
    """
    encoder = results["encoder_only"]
    parts = {"weights": encoder["weights_mib"], "gradients": encoder["gradients_mib"],
             "Adam's state": encoder["optimizer_state_mib"]}
    if not on_gpu:
        parts = {"the vocabulary": encoder["vocabulary_mib"], **parts}
    rest = encoder["headline_mib"] - sum(parts.values())
    split = ", ".join(f"{name} {value:.0f}" for name, value in parts.items())
    added = {name: results[name]["headline_mib"] - encoder["headline_mib"] for name in ("elmo_c", "elmo")}
    elmo_parts = ", ".join(
        f"{name} {results['elmo'][key] - encoder[key]:+.0f}"
        for name, key in (("weights", "weights_mib"), ("gradients", "gradients_mib"),
                          ("Adam's state", "optimizer_state_mib"))
    )
    return (
        f"{size_name}: encoder alone {encoder['headline_mib']:.0f} ({split}, the rest {rest:.0f}: activations "
        f"and the allocator's free blocks); ELMo-C's output layer {added['elmo_c']:+.0f}; ELMo's sampled softmax "
        f"{added['elmo']:+.0f} ({elmo_parts})"
    )


def _size_headlines(section: Section, size_name: str, results: Dict[str, Dict], on_gpu: bool) -> None:
    for other in [v for v in ("elmo", "allennlp_elmo", "elmo_a", "elmo_sub") if v in results]:
        section.headlines[f"peak_memory_ratio_{other}_over_elmo_c_{size_name}"] = ratio(
            results[other]["headline_mib"], results["elmo_c"]["headline_mib"]
        )
    if not on_gpu:
        section.headlines[f"peak_memory_ratio_elmo_over_elmo_c_without_vocabulary_{size_name}"] = ratio(
            results["elmo"]["allocated_above_mib"] - results["elmo"]["vocabulary_mib"],
            results["elmo_c"]["allocated_above_mib"] - results["elmo_c"]["vocabulary_mib"],
        )
        section.headlines[f"peak_memory_rss_ratio_elmo_over_elmo_c_{size_name}"] = ratio(
            results["elmo"]["above_mib"], results["elmo_c"]["above_mib"]
        )
    if "encoder_only" in results:  # the floor: what no output layer can go below
        section.headlines[f"peak_memory_ratio_elmo_over_encoder_only_{size_name}"] = ratio(
            results["elmo"]["headline_mib"], results["encoder_only"]["headline_mib"]
        )
    section.headlines[f"peak_memory_process_ratio_elmo_over_elmo_c_{size_name}"] = ratio(
        results["elmo"]["training_peak_mib"], results["elmo_c"]["training_peak_mib"]
    )


SECTION = Benchmark(
    "memory",
    "4. Peak training memory",
    run,
    headlines=(
        "peak_memory_ratio_*_over_elmo_c_*",
        "peak_memory_ratio_elmo_over_elmo_c_without_vocabulary_*",
        "peak_memory_rss_ratio_elmo_over_elmo_c_*",
        "peak_memory_ratio_elmo_over_encoder_only_*",
        "peak_memory_process_ratio_elmo_over_elmo_c_*",
        "peak_memory_ratio_elmo_over_elmo_c",
    ),
)


def _main() -> None:
    if "--worker" in sys.argv:
        parser = argparse.ArgumentParser(description="One memory measurement (used by the benchmark itself).")
        parser.add_argument("--worker", nargs=3, metavar=("MODE", "VARIANT", "SIZE"), required=True)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--cache-dir", required=True)
        parser.add_argument("--threads", type=int, default=None)
        args = parser.parse_args()
        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps(worker(*args.worker, args.device, args.cache_dir)))
        return
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)


if __name__ == "__main__":
    _main()
