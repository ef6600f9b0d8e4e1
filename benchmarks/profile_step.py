"""
Where the time goes: torch.profiler tables (operators by self time) for the steps
the benchmarks time, to explain a missed target.

    .venv/bin/python benchmarks/profile_step.py [--size small] [--what elmo_c,encoder_only,continuous,sampled]
        [--vocab-size 800000] [--batch 32x20] [--steps 3] [--threads N] [--rows 20]

`elmo_c`, `encoder_only`, `elmo`, ... are whole training steps of `variants.py`;
`continuous`, `sampled`, `adaptive`, `softmax` are output layers alone
(`output_layers.output_layer_step`) with the size's projection as input and the
batch's targets.  After one warm-up step, `--steps` steps are profiled.
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import argparse
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.common import SIZES, SyntheticCorpus, make_config
from benchmarks.output_layers import LAYERS
from benchmarks.variants import (
    STEP_VARIANTS,
    build_model,
    build_variant_optimizer,
    make_batches,
    output_layer_step,
    training_step,
)


def make_step(what: str, size_name: str, corpus: SyntheticCorpus, config, shape) -> Callable[[], None]:
    size = SIZES[size_name]
    if what in LAYERS:
        return output_layer_step(what, corpus, size.projection_dim, shape[0] * (shape[1] - 1), config)
    model = build_model(what, size, corpus, config)
    batches = make_batches(what, corpus, shape, 2, config.device)
    return training_step(model, build_variant_optimizer(what, model), batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--what", default="elmo_c,encoder_only,continuous,sampled",
                        help=f"among {', '.join(STEP_VARIANTS + LAYERS)}")
    parser.add_argument("--vocab-size", type=int, default=800_000)
    parser.add_argument("--batch", default="32x20")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = make_config("quick", args.device)
    corpus = config.corpus(args.vocab_size)
    shape = tuple(int(x) for x in args.batch.split("x"))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if config.device.type == "cuda" else [])
    for what in args.what.split(","):
        step = make_step(what, args.size, corpus, config, shape)
        step()
        with profile(activities=activities) as profiler:
            for _ in range(args.steps):
                step()
        sort_by = "self_cuda_time_total" if config.device.type == "cuda" else "self_cpu_time_total"
        print(f"\n=== {what} (size {args.size}, batch {args.batch}, V={args.vocab_size:,}, {args.steps} steps)")
        print(profiler.key_averages().table(sort_by=sort_by, row_limit=args.rows))


if __name__ == "__main__":
    main()
